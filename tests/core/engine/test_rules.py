"""One hand-computed scenario per strategy rule (docs/ARCHITECTURE.md, Strategy), on tiny bars
with indicators we control.

Unless a test says otherwise: middle 100, upper 102, lower 98, ATR 1, atr_mult 1.5 (stop distance
1.5), no fee, no slippage, no trailing, no take-profit, risk 1 % of 10 000 → qty 100/1.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from threadx_core.engine import Params, simulate
from threadx_core.engine.nb import LOG_COLUMNS

FLAT = (100.0, 100.5, 99.5, 100.0)
QTY = 100.0 / 1.5
BASE: dict[str, Any] = {"fee_bps": 0.0, "slippage_bps": 0.0, "trailing": False,
                        "take_profit": "none"}


def run(bars: list[tuple[float, float, float, float]], *, middle: Any = 100.0,
        upper: Any = 102.0, lower: Any = 98.0, atr: Any = 1.0, **overrides: Any) -> Any:
    """Simulate ``bars`` (open, high, low, close); scalar indicators are broadcast."""
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*bars, strict=True))
    n = len(bars)
    ind = [np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()
           for x in (middle, upper, lower, atr)]
    return simulate(o, h, lo, c, *ind, Params(**{**BASE, **overrides}))


def trades(sim: Any) -> list[dict[str, float]]:
    return [dict(zip(LOG_COLUMNS, row, strict=True)) for row in sim.log]


LONG_SIGNAL = [FLAT, FLAT, (100.0, 100.0, 96.5, 97.0)]  # t2 closes below lower 98: cross


def test_long_entry_on_the_cross_fills_at_the_next_open() -> None:
    sim = run([*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0), (98.0, 99.5, 97.5, 99.0)])
    [trade] = trades(sim)
    assert trade["entry_bar"] == 3 and trade["entry_price"] == 97.5
    assert trade["qty"] == pytest.approx(QTY, rel=1e-15)
    assert (trade["reason"], trade["exit_bar"]) == (4, 4)  # end of window
    assert trade["exit_price"] == 99.0
    assert trade["pnl"] == pytest.approx(QTY * 1.5, rel=1e-14)
    np.testing.assert_array_equal(sim.position, [0, 0, 0, QTY, 0])
    assert sim.equity[2] == 10_000.0
    assert sim.equity[3] == pytest.approx(10_000 + QTY * 0.5, rel=1e-14)


def test_no_entry_without_a_cross_when_already_below_the_band() -> None:
    below = (97.0, 97.5, 96.5, 97.0)
    assert trades(run([below, below, below, below])) == []


def test_close_fill_enters_at_the_signal_close() -> None:
    sim = run([*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0)], fill="close")
    [trade] = trades(sim)
    assert (trade["entry_bar"], trade["entry_price"]) == (2, 97.0)
    assert sim.position[2] == pytest.approx(QTY)


def test_stop_gap_through_fills_at_the_open() -> None:
    # entry 97.5 → stop 96.0; t4 opens at 95 below the stop
    sim = run([*LONG_SIGNAL, (97.5, 99.0, 97.0, 97.8), (95.0, 95.5, 94.0, 95.0), FLAT])
    [trade] = trades(sim)
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (2, 4, 95.0)


def test_stop_without_gap_fills_at_the_stop() -> None:
    sim = run([*LONG_SIGNAL, (97.5, 99.0, 97.0, 97.8), (97.0, 97.2, 95.5, 97.0), FLAT])
    [trade] = trades(sim)
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (2, 4, 96.0)
    assert trade["pnl"] == pytest.approx(-QTY * 1.5, rel=1e-14)  # exactly the risked 1 %


def test_stop_applies_on_the_entry_fill_bar() -> None:
    sim = run([*LONG_SIGNAL, (97.5, 97.6, 95.9, 97.0), FLAT])
    [trade] = trades(sim)
    assert (trade["entry_bar"], trade["exit_bar"], trade["reason"]) == (3, 3, 2)
    assert trade["exit_price"] == 96.0
    assert sim.position[3] == 0.0


def test_trailing_stop_ratchets_at_the_close_and_never_loosens() -> None:
    bars = [*LONG_SIGNAL,
            (97.5, 98.2, 97.4, 98.0),   # t3: stop 96 → max(96, 98 − 1.5) = 96.5
            (98.0, 100.2, 97.9, 100.0),  # t4: → 98.5
            (100.0, 100.1, 98.9, 99.0),  # t5: 99 − 1.5 = 97.5 < 98.5: stays 98.5
            (99.0, 99.1, 98.4, 98.6)]    # t6: low 98.4 ≤ 98.5 → stopped at 98.5
    [trade] = trades(run(bars, trailing=True))
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (2, 6, 98.5)
    [fixed] = trades(run(bars, trailing=False))
    assert fixed["reason"] == 4  # without trailing the stop stays at 96: held to the end


def test_take_profit_at_the_middle_band_exits_at_the_next_open() -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0), (98.0, 100.6, 97.9, 100.5),
            (100.7, 101.0, 100.0, 100.2), FLAT]
    [trade] = trades(run(bars, take_profit="mid"))
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (1, 5, 100.7)
    [at_close] = trades(run(bars, take_profit="mid", fill="close"))
    assert (at_close["entry_price"], at_close["exit_bar"], at_close["exit_price"]) == (97.0, 4, 100.5)


def test_max_hold_counts_bars_from_the_entry_fill() -> None:
    hold = (98.0, 98.5, 97.5, 98.0)
    bars = [*LONG_SIGNAL, (97.5, 98.5, 97.0, 98.0), hold, hold, (98.2, 98.5, 97.5, 98.0), hold]
    # fill bar 3; held 2 at the close of bar 5 → exit at the open of bar 6
    [trade] = trades(run(bars, max_hold_bars=2))
    assert (trade["reason"], trade["entry_bar"], trade["exit_bar"], trade["exit_price"]) == (
        3, 3, 6, 98.2)
    [close_fill] = trades(run(bars, max_hold_bars=2, fill="close"))
    assert (close_fill["entry_bar"], close_fill["exit_bar"], close_fill["reason"]) == (2, 4, 3)


SHORT_SIGNAL = [FLAT, FLAT, (100.0, 103.5, 100.0, 103.0)]  # crosses above upper 102


def test_short_side_mirrors_the_long_side() -> None:
    bars = [*SHORT_SIGNAL, (102.5, 103.0, 101.0, 101.5), (101.5, 101.6, 99.0, 99.5),
            (99.4, 99.6, 99.0, 99.2)]
    [trade] = trades(run(bars, take_profit="mid"))
    assert (trade["side"], trade["entry_bar"], trade["entry_price"]) == (-1, 3, 102.5)
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (1, 5, 99.4)
    assert trade["pnl"] == pytest.approx(QTY * (102.5 - 99.4), rel=1e-14)
    sim = run(bars, take_profit="mid")
    assert sim.position[3] == pytest.approx(-QTY)
    assert trades(run(bars, allow_short=False)) == []


def test_short_stop_gap_through_fills_at_the_open() -> None:
    # entry 102.5 → stop 104; t4 opens at 105
    bars = [*SHORT_SIGNAL, (102.5, 103.0, 101.0, 102.0), (105.0, 106.0, 104.5, 105.5)]
    [trade] = trades(run(bars))
    assert (trade["reason"], trade["exit_price"]) == (2, 105.0)
    [no_gap] = trades(run([*SHORT_SIGNAL, (102.5, 103.0, 101.0, 102.0),
                           (103.0, 104.2, 102.5, 103.0)]))
    assert (no_gap["reason"], no_gap["exit_price"]) == (2, 104.0)


def test_short_trailing_stop_moves_down_only() -> None:
    bars = [*SHORT_SIGNAL, (102.5, 102.6, 101.0, 101.0),  # stop min(104, 102.5) = 102.5
            (101.0, 102.0, 100.8, 101.8),                 # 103.3 > 102.5: stays
            (101.8, 102.6, 101.5, 102.0)]                 # high 102.6 ≥ 102.5 → stopped
    [trade] = trades(run(bars, trailing=True))
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == (2, 5, 102.5)


def test_size_is_capped_by_leverage_never_skipped() -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0)]
    [capped] = trades(run(bars, atr=0.01))  # risk size 100/0.015 ≫ cap
    assert capped["qty"] == pytest.approx(10_000 / 97.0, rel=1e-15)
    [levered] = trades(run(bars, atr=0.01, leverage=2.5))
    assert levered["qty"] == pytest.approx(2.5 * 10_000 / 97.0, rel=1e-15)
    [risk] = trades(run(bars, atr=1.0, risk_per_trade=0.015))  # 150/1.5 = 100 < cap 103.09
    assert risk["qty"] == pytest.approx(100.0, rel=1e-15)


def test_end_of_window_closes_with_fee_and_slippage_and_drops_pending_orders() -> None:
    sim = run([*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0)], fee_bps=10, slippage_bps=5)
    [trade] = trades(sim)
    assert trade["reason"] == 4 and trade["exit_price"] == pytest.approx(98.0 * 0.9995, rel=1e-15)
    assert sim.position[-1] == 0.0
    assert sim.equity[-1] == 10_000 + trade["pnl"]
    pending = run(LONG_SIGNAL)  # signal on the last bar: the order never fills
    assert trades(pending) == [] and pending.equity[-1] == 10_000.0


def test_fee_and_slippage_arithmetic() -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0), (98.0, 99.5, 97.5, 99.0)]
    sim = run(bars, fee_bps=10, slippage_bps=5)
    [trade] = trades(sim)
    entry = 97.5 * 1.0005
    exit_ = 99.0 * 0.9995
    fee_in = 0.001 * QTY * entry
    fee_out = 0.001 * QTY * exit_
    assert trade["entry_price"] == pytest.approx(entry, rel=1e-15)
    assert trade["fees"] == pytest.approx(fee_in + fee_out, rel=1e-14)
    assert trade["pnl"] == pytest.approx(QTY * (exit_ - entry) - fee_in - fee_out, rel=1e-12)
    cash = 10_000 - QTY * entry - fee_in
    assert sim.cash[3] == pytest.approx(cash, rel=1e-15)
    assert sim.equity[3] == pytest.approx(cash + QTY * 98.0, rel=1e-15)
    # the initial stop is measured from the fill price, slippage included
    stopped = trades(run([*LONG_SIGNAL, (97.5, 99.0, entry - 1.5, 98.0)], slippage_bps=5))
    assert stopped[0]["exit_price"] == pytest.approx((entry - 1.5) * 0.9995, rel=1e-15)


def test_short_fee_and_slippage_arithmetic() -> None:
    sim = run([*SHORT_SIGNAL, (102.5, 103.0, 101.0, 101.5)], fee_bps=20, slippage_bps=10)
    [trade] = trades(sim)
    entry, exit_ = 102.5 * 0.999, 101.5 * 1.001
    fees = 0.002 * QTY * entry + 0.002 * QTY * exit_
    assert trade["pnl"] == pytest.approx(QTY * (entry - exit_) - fees, rel=1e-12)
    assert sim.equity[-1] == 10_000 + trade["pnl"]


@pytest.mark.parametrize("nan_at", ["lower_now", "lower_before", "atr"])
def test_no_entry_when_a_needed_indicator_is_nan(nan_at: str) -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0)]
    lower = np.full(4, 98.0)
    atr = np.ones(4)
    if nan_at == "lower_now":
        lower[2] = np.nan
    elif nan_at == "lower_before":
        lower[1] = np.nan
    else:
        atr[2] = np.nan
    assert trades(run(bars, lower=lower, atr=atr)) == []


def test_stops_still_apply_when_indicators_are_nan() -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0), (97.0, 97.2, 95.5, 97.0), FLAT]
    nan_after = np.array([100, 100, 100, np.nan, np.nan, np.nan])
    sim = run(bars, middle=nan_after, atr=np.array([1, 1, 1, np.nan, np.nan, np.nan]),
              trailing=True, take_profit="mid")
    [trade] = trades(sim)
    assert (trade["reason"], trade["exit_price"]) == (2, 96.0)


def test_no_entry_once_equity_is_not_positive() -> None:
    # 10× levered short squeezed by a gap: the account is wiped out, later signals are ignored
    bars = [*SHORT_SIGNAL, (102.5, 103.0, 101.0, 102.0), (300.0, 310.0, 299.0, 300.0),
            FLAT, FLAT, (100.0, 100.0, 96.5, 97.0), (97.0, 97.5, 96.0, 97.0)]
    sim = run(bars, leverage=10.0, risk_per_trade=1.0, atr=1.0, atr_mult=5.0)
    [trade] = trades(sim)
    assert trade["reason"] == 2 and sim.equity[4] < 0
    assert (sim.position[5:] == 0).all()


def test_a_stop_during_the_bar_allows_an_entry_at_its_close() -> None:
    # long stopped intrabar at t4; t4's close crosses below the lower band again (from 98.5 ≥ 98)
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.5), (97.0, 97.2, 95.0, 97.0),
            (96.8, 97.5, 96.0, 97.0)]
    first, second = trades(run(bars))
    assert (first["reason"], first["exit_bar"]) == (2, 4)
    assert (second["entry_bar"], second["entry_price"], second["reason"]) == (5, 96.8, 4)


def test_an_exit_at_the_close_does_not_allow_an_entry_at_the_same_close() -> None:
    # t4 reaches the middle band (take-profit) and crosses above the upper band (short signal):
    # the position was not flat at this close, so no short is opened, whatever the fill mode
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.0), (98.0, 103.5, 98.0, 103.0), FLAT]
    at_close = trades(run(bars, fill="close", take_profit="mid"))
    assert [(t["side"], t["reason"], t["exit_bar"]) for t in at_close] == [(1, 1, 4)]
    next_open = trades(run(bars, take_profit="mid"))
    assert [(t["side"], t["reason"], t["exit_bar"]) for t in next_open] == [(1, 1, 5)]


def test_signals_are_ignored_while_in_position() -> None:
    bars = [*LONG_SIGNAL, (97.5, 99.0, 97.0, 98.5), (98.5, 98.6, 97.0, 97.2),
            (97.2, 97.5, 97.0, 97.3)]
    found = trades(run(bars))
    assert len(found) == 1 and found[0]["entry_bar"] == 3
