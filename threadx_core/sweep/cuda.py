"""The GPU sweep kernels (docs/ARCHITECTURE.md, Sweeps and devices): one CUDA thread per
combination, a sequential loop over the bars, the indicator matrices in device global memory
shared by all threads.

Two kernels, the same rules:

* ``plain`` — each thread runs :func:`threadx_core.sweep.cpu.combo_nb`, the reference engine's
  step functions bar by bar, on its combination's rows of the shared matrices;
* ``jump`` — each thread runs :func:`threadx_core.sweep.cpu.combo_fast_nb`, the CPU kernel's
  body, which jumps over flat stretches to the next entry cross of its band setting. The grid
  enumerates combinations with the band setting outermost, so the threads of a warp mostly
  share their crosses and jump together; they part while some hold a position.

Results agree with the CPU to rounding: the CUDA compiler fuses multiply-adds, so the contract is
:mod:`threadx_core.sweep.parity`'s (trade counts exactly, every metric to 1e-9 relative).
Which kernel is faster on a given GPU, and at which register cap, is measured by
``scripts/gpu_check.sh`` (docs/BENCHMARKS.md); :data:`DEFAULT_KERNEL` is the one sweeps use.

Importing this module imports ``numba.cuda`` (Numba's CUDA target, or the numba-cuda package
where it is installed): set ``NUMBA_ENABLE_CUDASIM=1`` before, to run it on Numba's CUDA
simulator (small inputs only).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, NamedTuple

import numpy as np
from numba import config, cuda

from threadx_core import metrics
from threadx_core.sweep.cpu import combo_fast_nb, combo_nb, combo_params
from threadx_core.sweep.layout import Layout

#: Threads per block.
BLOCK = 128
#: The kernels, by name (module docstring).
KERNELS = ("plain", "jump")
#: The kernel sweeps use.
DEFAULT_KERNEL = "plain"


def _body(jump: bool) -> Any:
    """The kernel function of ``jump`` (a closure constant: Numba compiles one branch only).

    Thread ``j`` runs combination ``i = start + j`` (if < ``stop``) from its row of ``carried``
    into row ``j`` of ``out`` ``(stop − start, 21)``, ``daily`` ``(stop − start, d)`` and ``end``
    (its carried state at the window's end); the jump kernel reads its crosses
    ``signal_bars[signal_start[s]:signal_start[s + 1]]``, ``s = signal_row[i]``."""

    def sweep(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
              middle: np.ndarray, sigma: np.ndarray, atr: np.ndarray, bb_row: np.ndarray,
              atr_row: np.ndarray, scalars: np.ndarray, signal_row: np.ndarray,
              signal_start: np.ndarray, signal_bars: np.ndarray, day_end: np.ndarray,
              carried: np.ndarray, bars_per_year: float, elapsed_minutes: float, close_end: bool,
              start: int, stop: int, out: np.ndarray, daily: np.ndarray, end: np.ndarray) -> None:
        j = cuda.grid(1)
        i = start + j
        if i < stop:
            b, a = bb_row[i], atr_row[i]
            if jump:
                s = signal_row[i]
                combo_fast_nb(open_, high, low, close, middle[b], sigma[b], atr[a], scalars[i, 0],
                              combo_params(scalars, i),
                              signal_bars[signal_start[s]:signal_start[s + 1]], day_end,
                              bars_per_year, elapsed_minutes, carried[i], close_end, out[j],
                              daily[j], end[j])
            else:
                combo_nb(open_, high, low, close, middle[b], sigma[b], atr[a], scalars[i, 0],
                         combo_params(scalars, i), day_end, bars_per_year, elapsed_minutes,
                         carried[i], close_end, out[j], daily[j], end[j])

    return sweep


@functools.cache
def kernel(name: str = DEFAULT_KERNEL, max_registers: int | None = None) -> Any:
    """The CUDA kernel ``name`` of :data:`KERNELS` (compiled at its first launch), with at most
    ``max_registers`` registers per thread (None: the compiler's choice; fewer registers, more
    threads resident per multiprocessor, but spills). Raises ``ValueError`` for an unknown
    name."""
    if name not in KERNELS:
        raise ValueError(f"CUDA kernel must be one of {', '.join(KERNELS)}, got {name!r}")
    # The simulator has no registers (and its jit no such option).
    simulated = config.ENABLE_CUDASIM
    options = {} if max_registers is None or simulated else {"max_registers": int(max_registers)}
    return cuda.jit(**options)(_body(name == "jump"))


class GpuTiming(NamedTuple):
    """Seconds of one :meth:`GpuSweep.run_timed`: the kernel (launch to completion) and the
    copy of its outputs to the host."""

    kernel_s: float
    download_s: float


class GpuSweep:
    """A layout resident on GPU ``index``: the shared arrays are copied once at construction
    (``upload_s`` seconds); :meth:`run` launches ``kernel_name`` (:data:`KERNELS`, with
    ``max_registers``, ``block`` threads per block) for a range of combinations. Raises Numba's
    CUDA errors (no device, out of memory, …) as they come."""

    def __init__(self, layout: Layout, index: int, kernel_name: str = DEFAULT_KERNEL, *,
                 max_registers: int | None = None, block: int = BLOCK) -> None:
        self.layout, self.index, self.block = layout, index, block
        self.kernel = kernel(kernel_name, max_registers)
        with cuda.gpus[index]:
            began = time.perf_counter()
            self.arrays = [cuda.to_device(a) for a in (
                layout.open, layout.high, layout.low, layout.close, layout.middle, layout.sigma,
                layout.atr, layout.bb_row, layout.atr_row, layout.scalars, layout.signal_row,
                layout.signal_start, layout.signal_bars, layout.day_end, layout.start)]
            cuda.synchronize()
            self.upload_s = time.perf_counter() - began

    def run(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Metrics ``(stop − start, len(OUTPUT_KEYS))``, daily returns ``(stop − start, days)``
        and end states of combinations ``[start, stop)``, as
        :func:`threadx_core.sweep.cpu.run_chunk` returns them."""
        return self.run_timed(start, stop)[0]

    def run_timed(self, start: int,
                  stop: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], GpuTiming]:
        """:meth:`run` and how long its kernel and its download took."""
        count = stop - start
        with cuda.gpus[self.index]:
            out = cuda.device_array((count, len(metrics.OUTPUT_KEYS)))
            daily = cuda.device_array((count, self.layout.n_days))
            end = cuda.device_array((count, self.layout.start.shape[1]))
            blocks = math.ceil(count / self.block)
            began = time.perf_counter()
            self.kernel[blocks, self.block](*self.arrays, self.layout.bars_per_year,
                                            self.layout.elapsed_minutes, self.layout.close_end,
                                            start, stop, out, daily, end)
            cuda.synchronize()
            launched = time.perf_counter()
            rows = out.copy_to_host(), daily.copy_to_host(), end.copy_to_host()
            return rows, GpuTiming(launched - began, time.perf_counter() - launched)
