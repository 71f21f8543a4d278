"""Sweep throughput and memory: the 1 760-combination reference grid on synthetic 1m BTCUSDT.

Each case runs in a fresh process (so its peak RSS is its own): generate the candles, build the
layout (indicators of every distinct window), warm the kernel up (Numba cache load or compile),
then time :func:`threadx_core.sweep.run_with_daily`-equivalent work — the layout build and the
kernel over every combination with daily returns — separately. Figures:

* ``bar_combos_per_s`` = bars × combinations / kernel seconds (all metrics + daily returns);
* ``peak_rss_mb``: the process's peak resident set (``ru_maxrss``), everything included
  (interpreter, Numba, pandas, the candle frame, the layout, outputs);
  ``rss_before_sweep_mb``: the same peak measured just before the layout is built;
* ``continued_month``: the cost of carrying state, side by side in one process — February swept
  from a fresh start and February continuing January's end states (``carry.window_start``, nothing
  closed at the end: how every pipeline month runs), kernel seconds best of 3, interleaved;
* GPU: the same on GPU 0 when a CUDA GPU is usable, plus one month of :data:`LARGE_GRID`
  (112 545 combinations: the issue's H100 target is set on a grid of at least 100 000), else a
  note.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from typing import Any

import numba

from threadx_bench import machine
from threadx_core.data.synthetic import synthetic
from threadx_core.engine import carry
from threadx_core.sweep import Grid, build
from threadx_core.sweep.devices import CPU, Device, available_gpus
from threadx_core.sweep.run import layout_runner, run_with_daily

CASES = {"one_month": ("2024-01-01", "2024-02-01"), "one_year": ("2024-01-01", "2025-01-01")}
#: A grid of more than 100 000 combinations (41 × 61 × 15 × 3), for the GPU.
LARGE_GRID = {"bb_period": {"start": 10, "stop": 50, "step": 1},
              "bb_std": {"start": 1.0, "stop": 4.0, "step": 0.05},
              "atr_period": {"start": 4, "stop": 32, "step": 2}, "atr_mult": [1.5, 2.0, 2.5]}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def case(start: str, end: str, device: Device, grid_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """One measurement in this process (see the module docstring); ``grid_spec``: a
    :class:`Grid` mapping, the reference grid when None."""
    frame = synthetic("BTCUSDT", start, end)
    grid = Grid(grid_spec)
    rss_before = _rss_mb()
    began = time.perf_counter()
    layout = build(frame, grid)
    layout_seconds = time.perf_counter() - began
    runner = layout_runner(layout)
    runner(device, 0, 2)  # compile or load the cache, upload to the GPU
    began = time.perf_counter()
    runner(device, 0, layout.n_combos)
    seconds = time.perf_counter() - began
    work = layout.n_bars * layout.n_combos
    return {"bars": layout.n_bars, "combinations": layout.n_combos, "days": layout.n_days,
            "layout_s": round(layout_seconds, 3), "kernel_s": round(seconds, 3),
            "bar_combos_per_s": round(work / seconds), "rss_before_sweep_mb": round(rss_before),
            "peak_rss_mb": round(_rss_mb())}


def continued(device: Device) -> dict[str, Any]:
    """February from a fresh start vs February continuing January (module docstring)."""
    grid = Grid()
    january = synthetic("BTCUSDT", "2024-01-01", "2024-02-01")
    february = synthetic("BTCUSDT", "2024-02-01", "2024-03-01")
    ended = run_with_daily(january, grid, "cpu", close_at_end=False).end_state
    start = carry.to_frame(carry.window_start(carry.to_rows(ended, len(grid))))
    layouts = {"fresh": build(february, grid, close_at_end=False),
               "continued": build(february, grid, start=start, close_at_end=False)}
    runners = {name: layout_runner(layout) for name, layout in layouts.items()}
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(3):
        for name, runner in runners.items():
            runner(device, 0, 2)
            began = time.perf_counter()
            runner(device, 0, layouts[name].n_combos)
            best[name] = min(best[name], time.perf_counter() - began)
    return {"bars": layouts["fresh"].n_bars, "combinations": len(grid),
            "fresh_kernel_s": round(best["fresh"], 3), "continued_kernel_s": round(best["continued"], 3),
            "continued_over_fresh": round(best["continued"] / best["fresh"], 3),
            "open_at_january_end": int((ended["side"] != 0).sum())}


def _isolated_continued(device: Device) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(continued, (device,))


def _isolated(start: str, end: str, device: Device,
              grid_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(case, (start, end, device, grid_spec))


def run(cases: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Measure every case on the CPU (all Numba threads) and, when one is usable, on GPU 0."""
    cases = CASES if cases is None else cases
    report: dict[str, Any] = {"machine": machine.describe(), "numba": numba.__version__,
                              "numba_threads": numba.config.NUMBA_NUM_THREADS,
                              "grid": len(Grid()), "data": "synthetic BTCUSDT 1m"}
    report["cpu"] = {name: _isolated(*span, CPU) for name, span in cases.items()}
    report["cpu"]["continued_month"] = _isolated_continued(CPU)
    gpus = available_gpus()
    if gpus:
        gpu = Device("gpu", gpus[0][0], gpus[0][1])
        report["gpu"] = {"device": gpu.name,
                         **{name: _isolated(*span, gpu) for name, span in cases.items()},
                         "large_grid_one_month": _isolated(*CASES["one_month"], gpu, LARGE_GRID)}
    else:
        report["gpu"] = "skipped: no usable CUDA GPU on this machine"
    return report


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
