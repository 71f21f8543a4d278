"""Carried state (docs/ARCHITECTURE.md, Strategy, "Carried state"): a run split into windows and
chained through each window's ``end_state`` is the continuous run — same trades, same equity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from tests.core.engine.kit import chained, markets, precomputed, trading_params, windows
from threadx_core.engine import Params, backtest, carry
from threadx_core.engine import nb as nb
from threadx_core.testing.candles import fat_tailed_walk

SETTINGS = settings(max_examples=20, deadline=None)
COMPARED = ["side", "entry_time", "exit_time", "entry_price", "exit_price", "qty", "fees", "pnl",
            "return", "exit_reason"]

@SETTINGS
@given(markets, trading_params)
def test_chained_windows_are_the_continuous_run(market, params) -> None:
    n, seed, cuts = market
    frame = fat_tailed_walk(n, seed)
    parts = windows(n, cuts)
    whole = backtest(frame, params, precomputed=precomputed(frame, params), bar_minutes=30)
    results = chained(frame, params, parts)

    trades = pd.concat([r.trades for r in results], ignore_index=True)
    pd.testing.assert_frame_equal(trades[COMPARED], whole.trades[COMPARED])
    # Bars are relative to each window: shifted back, they are the continuous run's.
    offsets = np.concatenate([np.full(len(r.trades), a) for r, (a, _) in zip(results, parts,
                                                                             strict=True)])
    np.testing.assert_array_equal(trades["exit_bar"] + offsets, whole.trades["exit_bar"])
    np.testing.assert_array_equal(trades["entry_bar"] + offsets, whole.trades["entry_bar"])
    for name in ("equity", "position", "cash"):
        pd.testing.assert_series_equal(pd.concat([getattr(r, name) for r in results]),
                                       getattr(whole, name), rtol=1e-9, atol=0)
    final = float(results[-1].equity.iloc[-1])
    assert final == pytest.approx(float(whole.equity.iloc[-1]), rel=1e-9, abs=0)
    sequential = params.initial_capital
    for pnl in trades["pnl"]:
        sequential += pnl
    assert final == sequential
    # The accumulators carried to the end are those of the continuous run.
    pd.testing.assert_series_equal(results[-1].end_state, whole.end_state, rtol=1e-9, atol=0)


def test_an_open_position_is_carried_not_closed_and_keeps_its_entry_time() -> None:
    frame = fat_tailed_walk(2000, 7)
    params = Params(bb_period=5, bb_std=0.8, take_profit="none", trailing=False, atr_mult=3.0)
    whole = backtest(frame, params, precomputed=precomputed(frame, params), bar_minutes=30)
    # A trade of at least three bars, cut twice: it spans three windows.
    trade = whole.trades[whole.trades["exit_bar"] - whole.trades["entry_bar"] >= 3].iloc[0]
    cut = int(trade["entry_bar"]) + 1
    first, middle, last = chained(frame, params, [(0, cut), (cut, cut + 1), (cut + 1, len(frame))])
    side = 1 if trade["side"] == "long" else -1
    for result, bar in ((first, trade["entry_bar"] - cut), (middle, trade["entry_bar"] - cut - 1)):
        state = result.end_state
        assert state["side"] == side and state["entry_bar"] == bar
        assert pd.Timestamp(int(state["entry_time"]), unit="ms", tz="UTC") == trade["entry_time"]
        assert "end" not in set(result.trades["exit_reason"].astype(str))
    carried = last.trades.iloc[0]
    assert carried["entry_time"] == trade["entry_time"] and carried["fees"] == trade["fees"]
    assert carried["entry_bar"] == trade["entry_bar"] - cut - 1 < 0


def test_a_pending_order_is_carried_to_the_next_open() -> None:
    frame = fat_tailed_walk(2000, 3)
    params = Params(bb_period=5, bb_std=0.8, fill="next_open")
    whole = backtest(frame, params, precomputed=precomputed(frame, params), bar_minutes=30)
    entry = int(whole.trades["entry_bar"].iloc[0])  # signalled at entry − 1, filled at entry
    first, second = chained(frame, params, [(0, entry), (entry, len(frame))])
    assert first.end_state["pending"] in (1, -1) and first.end_state["side"] == 0
    assert second.trades["entry_bar"].iloc[0] == 0
    assert second.trades["entry_time"].iloc[0] == whole.trades["entry_time"].iloc[0]


def test_state_rows_round_trip_through_a_typed_frame() -> None:
    rows = carry.fresh([10_000.0, 5_000.0])
    frame = carry.to_frame(rows)
    assert list(frame.columns) == list(nb.CARRY_COLUMNS)
    assert frame["side"].dtype == np.int64 and frame["eq_same_r"].dtype == np.int64
    assert frame["cash"].dtype == np.float64 and frame["entry_time"].tolist() == [-1, -1]
    np.testing.assert_array_equal(carry.to_rows(frame, 2), rows)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['stop'\]"):
        carry.to_rows(frame.drop(columns="stop"), 2)
    with pytest.raises(ValueError, match="has 2 rows for 3 runs"):
        carry.to_rows(frame, 3)
