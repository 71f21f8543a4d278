"""A tiny sweep through the public entry point (``sweep.run_with_daily``), on the CPU and on a
GPU, and whether the two agree by the contract of docs/ARCHITECTURE.md, Sweeps and devices
(trade counts exactly, every other metric to 1e-9 relative).

Two days of synthetic 15-minute bars and four combinations: enough for trades, crosses and
stops on both kernels, small enough for Numba's CUDA simulator. The CPU run is done once per
process (the Numba check and every GPU's parity check share it).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from threadx_core import data
from threadx_core.engine import Params
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.sweep import Grid, parity
from threadx_core.sweep.run import SweepOutput, run_with_daily

GRID = Grid({"bb_period": [5, 10], "bb_std": [1.0, 2.0]}, Params(max_hold_bars=6))


@functools.cache
def bars() -> pd.DataFrame:
    """The tiny sweep's candles: 2024-01-01..02 of the synthetic source, in 15-minute bars."""
    return data.resample(data.synthetic("BTCUSDT", "2024-01-01", "2024-01-03", seed=3), "15m")


@functools.cache
def on_cpu() -> SweepOutput:
    """The tiny sweep on the CPU kernel (once per process)."""
    return run_with_daily(bars(), GRID, "cpu")


def on_gpu(index: int) -> SweepOutput:
    """The tiny sweep on GPU ``index``; a CUDA failure falls back to the CPU as every sweep
    does (``devices`` then says "cpu" and ``warning`` why), without emitting the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_with_daily(bars(), GRID, "gpu", gpu_indices=[index])


def disagreement(gpu: SweepOutput, cpu: SweepOutput) -> str | None:
    """How ``gpu``'s metrics differ from ``cpu``'s beyond the contract
    (:mod:`threadx_core.sweep.parity`), None when they agree."""
    columns = list(OUTPUT_KEYS)
    return parity.metric_disagreement(gpu.results[columns].to_numpy(np.float64),
                                      cpu.results[columns].to_numpy(np.float64))
