"""Entry crosses listed once per band setting (threadx_core.sweep.signals) are exactly the bars
where the engine's entry rule sees a cross — the CPU kernel jumps from one to the next."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import indicators
from threadx_core.engine.nb import entry_side
from threadx_core.sweep import Grid, build
from threadx_core.sweep.signals import crosses_nb, entry_signals
from threadx_core.testing.candles import fat_tailed_walk


def engine_crosses(close: np.ndarray, middle: np.ndarray, sigma: np.ndarray, bb_std: float,
                   allow_short: bool) -> list[int]:
    """Bars where :func:`entry_side` (finite ATR) signals, bands as the kernel computes them."""
    up = [m + bb_std * s for m, s in zip(middle, sigma, strict=True)]
    lo = [m - bb_std * s for m, s in zip(middle, sigma, strict=True)]
    return [t for t in range(1, close.size)
            if entry_side(close[t], close[t - 1], up[t], lo[t], up[t - 1], lo[t - 1], 1.0, allow_short) != 0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40), st.floats(0.5, 3.5), st.booleans())
def test_crosses_are_the_engine_entry_signals(seed: int, period: int, bb_std: float,
                                              allow_short: bool) -> None:
    close = fat_tailed_walk(600, seed)["close"].to_numpy()
    middle, sigma = indicators.rolling_mean_std(close, period)
    got = crosses_nb(close, middle, sigma, bb_std, allow_short)
    assert got.tolist() == engine_crosses(close, middle, sigma, bb_std, allow_short)
    assert np.isnan(middle[: period - 1]).all() and (got >= period).all()  # NaN bands never cross


def test_one_list_per_band_setting_shared_by_its_combinations() -> None:
    grid = Grid({"bb_period": [10, 20], "bb_std": [1.5, 2.0], "atr_period": [7, 14],
                 "allow_short": [False, True]})
    layout = build(fat_tailed_walk(2_000, 3), grid)
    settings_of = [(p.bb_period, p.bb_std, p.allow_short) for p in grid]
    assert len(layout.signal_start) - 1 == len(set(settings_of)) == 8
    for i, setting in enumerate(settings_of):
        s = layout.signal_row[i]
        crosses = layout.signal_bars[layout.signal_start[s]:layout.signal_start[s + 1]]
        row = layout.bb_periods.index(setting[0])
        want = crosses_nb(layout.close, layout.middle[row], layout.sigma[row], setting[1], setting[2])
        assert crosses.tolist() == want.tolist() and len(want) > 0
        assert all(layout.signal_row[j] == s for j, other in enumerate(settings_of) if other == setting)


def test_shorts_add_crosses_of_the_upper_band() -> None:
    frame = fat_tailed_walk(2_000, 5)
    close = frame["close"].to_numpy()
    middle, sigma = indicators.rolling_mean_std(close, 20)
    signals = entry_signals(close, middle[None, :], sigma[None, :], np.zeros(2, np.int64),
                            np.array([2.0, 2.0]), np.array([False, True]))
    long_only, both = (signals.bars[signals.start[s]:signals.start[s + 1]] for s in signals.row)
    assert set(long_only) < set(both)
