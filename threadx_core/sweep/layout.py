"""Kernel inputs of a sweep (docs/ARCHITECTURE.md, Sweeps and devices): prices, shared indicator matrices,
per-combination rows.

Memory is O(bars × distinct indicator windows + combinations): Bollinger middle/σ are computed
once per distinct ``bb_period`` and ATR once per distinct ``(atr_period, atr_method)``; each
combination only holds row indices into those matrices and one row of scalars. The entry crosses
of each distinct band setting are listed once (:mod:`threadx_core.sweep.signals`, a few percent of
the bars each). No bars × combinations array is ever built.

Evaluation window and warm-up
-----------------------------
The frame's first ``warmup_bars`` bars are history: indicators are computed on the *whole* frame,
then everything (prices, indicators, times) is sliced to the window ``[warmup_bars, n)``, where the
strategy runs exactly as :func:`threadx_core.engine.simulate` does on the slice with those
precomputed indicators (so the first window bar has no previous close and cannot signal an entry;
no position is carried in from the warm-up). With ``warmup_bars = 0`` this is
:func:`threadx_core.engine.backtest` on the frame.

Carried state
-------------
``start`` continues each combination from the state it ended the previous window in
(:mod:`threadx_core.engine.carry`, e.g. the previous month's ``end_state``): then the first
window bar's previous close and bands, the position, pending order, cash and the metric
accumulators are the carried ones, and the window is the continuation of one run.
``close_at_end=False`` leaves a position open at the window's end (carried, not closed "end").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core import indicators
from threadx_core.engine import carry
from threadx_core.engine.frames import bar_times, prices, resolve_bar_minutes
from threadx_core.engine.params import Params
from threadx_core.indicators.cache import atr_column, bb_columns
from threadx_core.sweep.grid import Grid
from threadx_core.sweep.signals import entry_signals
from threadx_core.times import MINUTES_PER_YEAR

#: Columns of :attr:`Layout.scalars`, the per-combination parameters the kernels read (flags and
#: integers stored as exact floats, fees and slippage in bps as in :class:`Params`).
SCALAR_COLUMNS: tuple[str, ...] = (
    "bb_std", "atr_mult", "trailing", "take_profit_mid", "max_hold_bars", "allow_short",
    "risk_per_trade", "leverage", "fee_bps", "slippage_bps", "fill_close", "initial_capital",
)


@dataclass(frozen=True, eq=False)
class Layout:
    """Everything a sweep kernel reads, C-contiguous float64/int64 arrays.

    * ``open``/``high``/``low``/``close``: ``(n,)`` prices of the evaluation window;
    * ``middle``/``sigma``: ``(len(bb_periods), n)`` Bollinger SMA and population σ, one row per
      period of ``bb_periods``; ``atr``: ``(len(atr_windows), n)``, one row per ``(period,
      method)`` of ``atr_windows``; NaN where undefined (warm-up shortens the NaN prefix);
    * ``bb_row``/``atr_row``: ``(m,)`` row of each combination in those matrices;
    * ``scalars``: ``(m, len(SCALAR_COLUMNS))``;
    * ``signal_row``/``signal_start``/``signal_bars``: the band crosses of each combination's
      band setting (:class:`threadx_core.sweep.signals.Signals`);
    * ``day_end``: ``(d,)`` window positions of the last bar of each UTC day, ``days`` their
      dates (UTC midnight);
    * ``times``: the window's bar open times; ``bar_minutes``; ``bars_per_year`` = 525 600 /
      bar minutes; ``elapsed_minutes`` = last − first window time + one bar;
    * ``start``: ``(m, len(carry.COLUMNS))`` the carried state each combination starts from
      (fresh rows when nothing is carried in); ``close_end``: whether the evaluated window ends
      at the last bar.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    middle: np.ndarray
    sigma: np.ndarray
    atr: np.ndarray
    bb_periods: tuple[int, ...]
    atr_windows: tuple[tuple[int, str], ...]
    bb_row: np.ndarray
    atr_row: np.ndarray
    scalars: np.ndarray
    signal_row: np.ndarray
    signal_start: np.ndarray
    signal_bars: np.ndarray
    day_end: np.ndarray
    days: pd.DatetimeIndex
    times: pd.DatetimeIndex
    bar_minutes: float
    bars_per_year: float
    elapsed_minutes: float
    start: np.ndarray
    close_end: bool

    @property
    def n_bars(self) -> int:
        """Bars in the evaluation window."""
        return int(self.close.size)

    @property
    def n_combos(self) -> int:
        """Parameter combinations."""
        return int(self.scalars.shape[0])

    @property
    def n_days(self) -> int:
        """UTC days touched by the window (columns of the daily returns)."""
        return int(self.day_end.size)


def scalar_row(params: Params) -> list[float]:
    """The :data:`SCALAR_COLUMNS` values of one combination."""
    return [params.bb_std, params.atr_mult, float(params.trailing),
            float(params.take_profit == "mid"), float(params.max_hold_bars),
            float(params.allow_short), params.risk_per_trade, params.leverage, params.fee_bps,
            params.slippage_bps, float(params.fill == "close"), params.initial_capital]


def day_ends(times: pd.DatetimeIndex) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Positions of the last bar of each UTC day in ``times`` (sorted, UTC) and those days."""
    days = times.normalize()
    change = np.flatnonzero(days[1:] != days[:-1])
    ends = np.append(change, len(times) - 1).astype(np.int64) if len(times) else np.empty(0, np.int64)
    return np.ascontiguousarray(ends), pd.DatetimeIndex(days[ends], name="day")


def _indicator_matrices(high: np.ndarray, low: np.ndarray, close: np.ndarray, grid: Grid,
                        first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(middle, sigma, atr)`` matrices over the whole series, kept from bar ``first`` on."""
    periods, windows = grid.bb_periods(), grid.atr_windows()
    n = close.size - first
    middle = np.empty((len(periods), n))
    sigma = np.empty((len(periods), n))
    for row, period in enumerate(periods):
        mean, std = indicators.rolling_mean_std(close, period)
        middle[row], sigma[row] = mean[first:], std[first:]
    atr = np.empty((len(windows), n))
    for row, values in enumerate(indicators.atr_batch(high, low, close, windows).values()):
        atr[row] = values[first:]
    return middle, sigma, atr


def _cached_matrices(cache: pd.DataFrame, grid: Grid, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(middle, sigma, atr)`` matrices read from an indicator cache (``indicator_cache``
    columns) of the same ``n`` bars; raises ``ValueError`` naming a window the cache lacks."""
    if len(cache) != n:
        raise ValueError(f"indicator cache has {len(cache)} rows for {n} bars")
    bb = [bb_columns(p) for p in grid.bb_periods()]
    atr = [atr_column(p, m) for p, m in grid.atr_windows()]
    missing = [c for pair in bb for c in pair if c not in cache] + [c for c in atr if c not in cache]
    if missing:
        raise ValueError(f"indicator cache lacks {missing}: re-materialise it after changing the grid")

    def matrix(columns: list[str]) -> np.ndarray:
        return np.ascontiguousarray(cache[columns].to_numpy(np.float64).T.reshape(len(columns), n))

    return matrix([m for m, _ in bb]), matrix([s for _, s in bb]), matrix(atr)


def build(ohlcv: pd.DataFrame, grid: Grid | None = None, *, bar_minutes: float | None = None,
          warmup_bars: int = 0, indicators: pd.DataFrame | None = None,
          start: pd.DataFrame | None = None, close_at_end: bool = True) -> Layout:
    """The kernel inputs for ``grid`` (the reference grid when None) on ``ohlcv``.

    ``ohlcv``: one timeframe, open/high/low/close finite and > 0, a UTC DatetimeIndex or an
    ``open_time`` column, strictly increasing (:mod:`threadx_core.engine.frames`).
    ``bar_minutes``: inferred from the whole frame's median spacing when None. ``warmup_bars``:
    leading bars used only to warm the indicators up (0 ≤ warmup_bars < bars). ``indicators``: an
    indicator cache of the same bars (e.g. the ``indicators_<tf>`` asset, already warmed up) to
    use instead of computing the windows here; then ``warmup_bars`` must be 0. ``start``: the
    carried state frame of the same grid (one row per combination, grid order) to continue
    from; ``close_at_end``: see the module docstring. Raises ``ValueError`` on any violation.
    """
    grid = Grid() if grid is None else grid
    if len(grid) == 0:
        raise ValueError("the grid holds no combination")
    times = bar_times(ohlcv)
    open_, high, low, close = prices(ohlcv, times)
    if isinstance(warmup_bars, bool) or not isinstance(warmup_bars, int | np.integer) or not (
            0 <= warmup_bars < close.size):
        raise ValueError(f"warmup_bars must be an integer in [0, bars={close.size}), got {warmup_bars!r}")
    minutes = resolve_bar_minutes(times, bar_minutes)
    first = int(warmup_bars)
    window = times[first:]
    if indicators is None:
        middle, sigma, atr = _indicator_matrices(high, low, close, grid, first)
    elif first:
        raise ValueError("warmup_bars must be 0 with a precomputed indicator cache")
    else:
        middle, sigma, atr = _cached_matrices(indicators, grid, close.size)
    bb_index = {p: i for i, p in enumerate(grid.bb_periods())}
    atr_index = {w: i for i, w in enumerate(grid.atr_windows())}
    ends, days = day_ends(window)
    bb_row = np.array([bb_index[p.bb_period] for p in grid], dtype=np.int64)
    scalars = np.array([scalar_row(p) for p in grid], dtype=np.float64).reshape(len(grid), -1)
    close_window = np.ascontiguousarray(close[first:])
    signals = entry_signals(close_window, middle, sigma, bb_row, scalars[:, SCALAR_COLUMNS.index("bb_std")],
                            scalars[:, SCALAR_COLUMNS.index("allow_short")] != 0.0)
    return Layout(
        open=np.ascontiguousarray(open_[first:]), high=np.ascontiguousarray(high[first:]),
        low=np.ascontiguousarray(low[first:]), close=close_window,
        middle=middle, sigma=sigma, atr=atr,
        bb_periods=tuple(grid.bb_periods()), atr_windows=tuple(grid.atr_windows()),
        bb_row=bb_row,
        atr_row=np.array([atr_index[(p.atr_period, p.atr_method)] for p in grid], dtype=np.int64),
        scalars=scalars, signal_row=signals.row, signal_start=signals.start, signal_bars=signals.bars,
        day_end=ends, days=days, times=window, bar_minutes=minutes,
        bars_per_year=MINUTES_PER_YEAR / minutes,
        elapsed_minutes=(window[-1] - window[0]).total_seconds() / 60.0 + minutes,
        start=(carry.fresh(scalars[:, SCALAR_COLUMNS.index("initial_capital")]) if start is None
               else carry.to_rows(start, len(grid))),
        close_end=bool(close_at_end),
    )
