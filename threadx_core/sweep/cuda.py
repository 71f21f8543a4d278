"""The GPU sweep kernel (docs/ARCHITECTURE.md, Sweeps and devices): one CUDA thread per combination, a
sequential loop over the bars, the indicator matrices in device global memory shared by all
threads.

Each thread runs :func:`threadx_core.sweep.cpu.combo_nb` — the CPU kernel's body, built
from the reference engine's step functions — on its combination's rows of the shared matrices,
so the GPU follows the same rules; results agree with the CPU to rounding (the CUDA compiler
may fuse multiply-adds: 1e-9 relative is the contract, trade counts exactly).

Importing this module imports ``numba.cuda``: set ``NUMBA_ENABLE_CUDASIM=1`` before, to run it
on Numba's CUDA simulator (small inputs only).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from threadx_core import metrics
from threadx_core.sweep.cpu import combo_nb, combo_params
from threadx_core.sweep.layout import Layout

#: Threads per block.
BLOCK = 128


@cuda.jit
def sweep_kernel(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 middle: np.ndarray, sigma: np.ndarray, atr: np.ndarray, bb_row: np.ndarray,
                 atr_row: np.ndarray, scalars: np.ndarray, day_end: np.ndarray,
                 carried: np.ndarray, bars_per_year: float, elapsed_minutes: float,
                 close_end: bool, start: int, stop: int, out: np.ndarray, daily: np.ndarray,
                 end: np.ndarray) -> None:
    """Thread ``j`` runs combination ``start + j`` (if < ``stop``) from its row of ``carried``
    into row ``j`` of ``out`` ``(stop − start, 21)``, ``daily`` ``(stop − start, d)`` and ``end``
    (its carried state at the window's end)."""
    j = cuda.grid(1)
    i = start + j
    if i < stop:
        b, a = bb_row[i], atr_row[i]
        combo_nb(open_, high, low, close, middle[b], sigma[b], atr[a], scalars[i, 0],
                 combo_params(scalars, i), day_end, bars_per_year, elapsed_minutes, carried[i],
                 close_end, out[j], daily[j], end[j])


class GpuSweep:
    """A layout resident on GPU ``index``: the shared arrays are copied once at construction;
    :meth:`run` launches the kernel for a range of combinations. Raises Numba's CUDA errors
    (no device, out of memory, …) as they come."""

    def __init__(self, layout: Layout, index: int) -> None:
        self.layout, self.index = layout, index
        with cuda.gpus[index]:
            self.arrays = [cuda.to_device(a) for a in (
                layout.open, layout.high, layout.low, layout.close, layout.middle, layout.sigma,
                layout.atr, layout.bb_row, layout.atr_row, layout.scalars, layout.day_end,
                layout.start)]

    def run(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Metrics ``(stop − start, len(OUTPUT_KEYS))``, daily returns ``(stop − start, days)``
        and end states of combinations ``[start, stop)``, as
        :func:`threadx_core.sweep.cpu.run_chunk` returns them."""
        count = stop - start
        with cuda.gpus[self.index]:
            out = cuda.device_array((count, len(metrics.OUTPUT_KEYS)))
            daily = cuda.device_array((count, self.layout.n_days))
            end = cuda.device_array((count, self.layout.start.shape[1]))
            blocks = math.ceil(count / BLOCK)
            sweep_kernel[blocks, BLOCK](*self.arrays, self.layout.bars_per_year,
                                        self.layout.elapsed_minutes, self.layout.close_end,
                                        start, stop, out, daily, end)
            return out.copy_to_host(), daily.copy_to_host(), end.copy_to_host()
