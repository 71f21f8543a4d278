"""The stop path of a backtest (``Result.stop``) is the engine's own stop, bar by bar."""

import numpy as np
import pandas as pd
import pytest

from tests.core.engine.kit import chained, precomputed
from threadx_core.engine import Params, backtest
from threadx_core.testing.candles import fat_tailed_walk


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return fat_tailed_walk(2000, seed=7)


@pytest.mark.parametrize("trailing", [True, False])
def test_the_stop_path_is_the_level_every_stop_exit_hit_and_is_set_while_in_position(market, trailing):
    params = Params(bb_period=10, bb_std=1.0, atr_period=5, atr_mult=1.0, trailing=trailing,
                    allow_short=True, slippage_bps=0.0)
    result = backtest(market, params, bar_minutes=30)
    stop, trades = result.stop.to_numpy(), result.trades
    held = np.zeros(len(market), dtype=bool)
    atr = precomputed(market, params)[2]
    o = market["open"].to_numpy()
    for trade in trades.itertuples():
        # next-open fills: a stop or the end exits within the exit bar, other exits at its open
        last = trade.exit_bar if trade.exit_reason in ("stop", "end") else trade.exit_bar - 1
        held[trade.entry_bar:last + 1] = True
        side = 1 if trade.side == "long" else -1
        path = stop[trade.entry_bar:last + 1]
        assert path[0] == pytest.approx(trade.entry_price - side * params.atr_mult * atr[trade.entry_bar - 1],
                                        rel=1e-12)
        steps = np.diff(path) * side
        assert (steps >= 0).all() if trailing else (steps == 0).all()
        if trade.exit_reason == "stop":
            level, opened = stop[trade.exit_bar], o[trade.exit_bar]  # a gap fills at the open
            assert trade.exit_price == (min(level, opened) if side > 0 else max(level, opened))
    np.testing.assert_array_equal(np.isfinite(stop), held)
    assert (trades["exit_reason"] == "stop").sum() >= 5 and set(trades["side"]) == {"long", "short"}


def test_a_continued_run_has_the_stop_path_of_one_run_over_both_windows(market):
    params = Params(bb_period=8, bb_std=1.0, atr_period=4, atr_mult=2.0, allow_short=True)
    whole = backtest(market, params, bar_minutes=30, precomputed=precomputed(market, params))
    parts = chained(market, params, [(0, 700), (700, 1300), (1300, len(market))])
    pd.testing.assert_series_equal(pd.concat([part.stop for part in parts]), whole.stop)
    # a position carried across a cut keeps its stop on the next window's first bar
    assert any(np.isfinite(part.stop.iloc[0]) for part in parts[1:])
