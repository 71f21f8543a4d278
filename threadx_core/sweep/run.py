"""The public sweep (docs/ARCHITECTURE.md, Sweeps and devices; The Python API): every
combination of a grid on one timeframe of candles.

``run(ohlcv, grid, device)`` returns one row per combination, in grid order: every
:class:`~threadx_core.engine.Params` field, then every metric of :data:`metrics.OUTPUT_KEYS`
(``cagr_short_window`` included, as bool; ``n_trades`` and ``max_drawdown_duration`` as int64),
each equal — to 1e-9 relative, bitwise on the CPU — to ``engine.backtest(ohlcv, params).metrics``
(with ``warmup_bars``: to the backtest of the window with indicators computed on the whole frame;
see :mod:`threadx_core.sweep.layout`).

``run_with_daily`` also returns the daily returns: a frame indexed by UTC day (``day``), one
column per combination (``combo``: the row position in the results), r = E(last bar of the
day)/E(previous day's last bar) − 1 with the initial capital before the first day; Π(1 + r) − 1
= total_return. Parquet needs string column names: store it as ``daily.rename(columns=str)`` or
transposed.

``run_with_daily`` also takes ``start`` (the ``end_state`` of the previous window's sweep of the
same grid) and ``close_at_end`` (see :mod:`threadx_core.sweep.layout`), and returns each
combination's ``end_state`` (:mod:`threadx_core.engine.carry`), where the next window starts.
The metrics of a window started from a carried state are those of the run since the chain's
first window (the accumulators are carried too); its daily returns are the window's days.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from threadx_core.engine import carry
from threadx_core.metrics import INT_KEYS, OUTPUT_KEYS
from threadx_core.sweep import cpu, devices
from threadx_core.sweep.grid import Grid
from threadx_core.sweep.layout import Layout, build

#: Combinations per CPU kernel call (and per progress report).
CHUNK = 256
_CPU_LOCK = threading.Lock()


class SweepOutput(NamedTuple):
    """``results`` (one row per combination), ``daily`` (days × combinations), ``devices`` that
    ran (labels such as "cpu", "gpu:0"), ``warning`` for the run log (CUDA fallback) or None,
    ``end_state`` (one carried state row per combination, grid order)."""

    results: pd.DataFrame
    daily: pd.DataFrame
    devices: list[str]
    warning: str | None
    end_state: pd.DataFrame


def layout_runner(layout: Layout) -> devices.Runner:
    """A :data:`devices.Runner` over ``layout``: the CPU kernel (one call at a time: it uses
    every core), or the CUDA kernel on the device's GPU (arrays uploaded once per GPU)."""
    resident: dict[int, Any] = {}
    upload = threading.Lock()

    def runner(device: devices.Device, start: int,
               stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if device.kind == "cpu":
            with _CPU_LOCK:
                return cpu.run_chunk(layout, start, stop)
        from threadx_core.sweep import cuda

        with upload:
            if device.index not in resident:
                resident[device.index] = cuda.GpuSweep(layout, device.index)
        return resident[device.index].run(start, stop)

    return runner


def results_frame(grid: Grid, values: np.ndarray) -> pd.DataFrame:
    """Params columns + metric columns (typed) for the ``(m, len(OUTPUT_KEYS))`` ``values``."""
    return with_metrics(grid.to_frame(), values)


def with_metrics(frame: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """``frame`` (params columns, one row per combination) with the metric columns of the
    ``(len(frame), len(OUTPUT_KEYS))`` ``values`` added, typed; returns ``frame``."""
    for column, key in enumerate(OUTPUT_KEYS):
        if key in INT_KEYS:
            frame[key] = values[:, column].astype(np.int64)
        elif key == "cagr_short_window":
            frame[key] = values[:, column] != 0.0
        else:
            frame[key] = values[:, column]
    return frame


def run_with_daily(ohlcv: pd.DataFrame, grid: Grid | None = None, device: str = "auto", *,
                   bar_minutes: float | None = None, warmup_bars: int = 0,
                   progress: devices.Progress | None = None, gpu_indices: Sequence[int] | None = None,
                   ratios: Sequence[float] | str | None = None, chunk: int = CHUNK,
                   indicators: pd.DataFrame | None = None, start: pd.DataFrame | None = None,
                   close_at_end: bool = True) -> SweepOutput:
    """Sweep ``grid`` (the 1 760-combination reference grid when None) over ``ohlcv``.

    ``device``: ``auto`` | ``cpu`` | ``gpu`` | ``multi-gpu`` (:func:`devices.resolve`, GPUs
    picked by ``gpu_indices``); ``ratios``: the split between those devices (None: equal;
    ``"auto"``: measured throughput). ``progress(done, total)`` is called after every chunk of
    ``chunk`` combinations. ``bar_minutes``/``warmup_bars``/``indicators``/``start``/
    ``close_at_end``: see :func:`layout.build`. A CUDA
    failure falls back to the CPU (``warning`` says so); the output is the same whatever ran it.
    """
    grid = Grid() if grid is None else grid
    layout = build(ohlcv, grid, bar_minutes=bar_minutes, warmup_bars=warmup_bars,
                   indicators=indicators, start=start, close_at_end=close_at_end)
    chosen = devices.resolve(device, gpu_indices)
    (values, daily, end), report = devices.run_split(layout.n_combos, chosen,
                                                     layout_runner(layout), ratios, chunk=chunk,
                                                     progress=progress)
    carry.fill_entry_times(end, layout.times)
    daily_frame = pd.DataFrame(daily.T, index=layout.days,
                               columns=pd.RangeIndex(layout.n_combos, name="combo"))
    return SweepOutput(results_frame(grid, values), daily_frame, report.devices, report.warning,
                       carry.to_frame(end))


def run(ohlcv: pd.DataFrame, grid: Grid | None = None, device: str = "auto", *,
        bar_minutes: float | None = None, warmup_bars: int = 0,
        progress: devices.Progress | None = None) -> pd.DataFrame:
    """The results frame of :func:`run_with_daily` (docs/ARCHITECTURE.md, The Python API); ``attrs``
    holds ``devices`` (labels that ran) and ``warning`` (None, or the CUDA fallback message)."""
    output = run_with_daily(ohlcv, grid, device, bar_minutes=bar_minutes, warmup_bars=warmup_bars,
                            progress=progress)
    output.results.attrs.update(devices=output.devices, warning=output.warning)
    return output.results
