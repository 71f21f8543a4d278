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

Both are compiled with exact arithmetic (:func:`exact_arithmetic`): NVVM, the CUDA compiler,
fuses ``a·b + c`` into one fused multiply-add by default, which rounds once instead of twice, and
the strategy has exact ties (an entry filled at the close marks the equity back to the cash it
had, a drawdown ends when the equity is back at its peak) that one rounding more or less
breaks: the CPU kernel compiled with LLVM's contraction, tried on random markets, changed a
``max_drawdown_duration`` from 24 to 21 bars and a carried count of non-zero returns within a few
examples. Without contraction every operation is IEEE-rounded as on the CPU (division and
square root included), so the trading path should agree bit for bit, and CAGR's ``pow``
(libdevice's, not the CPU's) to an ulp or so. The contract is
:mod:`threadx_core.sweep.parity`'s (trade counts exactly, every metric to 1e-9 relative).

Which kernel is faster on a given GPU, and at which register cap, is measured by
``scripts/gpu_check.sh`` (docs/BENCHMARKS.md); :data:`DEFAULT_KERNEL` is the one sweeps use.

Importing this module imports ``numba.cuda`` (Numba's CUDA target, or the numba-cuda package
where it is installed): set ``NUMBA_ENABLE_CUDASIM=1`` before, to run it on Numba's CUDA
simulator (small inputs only).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from numba import config, cuda, types
from numba.core.compiler_lock import global_compiler_lock

from threadx_core import metrics
from threadx_core.sweep.cpu import combo_fast_nb, combo_nb, combo_params
from threadx_core.sweep.layout import Layout

#: Threads per block.
BLOCK = 128
#: The kernels, by name (module docstring).
KERNELS = ("plain", "jump")
#: The kernel sweeps use.
DEFAULT_KERNEL = "plain"
_VECTOR, _MATRIX, _ROWS = types.float64[::1], types.float64[:, ::1], types.int64[::1]
#: The kernels' argument types, in order: open/high/low/close, middle/sigma/atr, bb_row,
#: atr_row, scalars, signal_row/signal_start/signal_bars, day_end, carried, bars_per_year,
#: elapsed_minutes, close_end, start, stop, out/daily/end (:class:`Layout`'s C-contiguous arrays).
SIGNATURE = ((_VECTOR,) * 4 + (_MATRIX,) * 3 + (_ROWS, _ROWS, _MATRIX) + (_ROWS,) * 4 + (_MATRIX,)
             + (types.float64, types.float64, types.boolean, types.int64, types.int64)
             + (_MATRIX,) * 3)
_VOID = types.void(*SIGNATURE)
#: numba-cuda links through nvJitLink with link-time optimisation when it can; its code
#: generation is then nvJitLink's, with its own contraction default: link PTX instead.
_LINK = {"lto": False} if importlib.util.find_spec("numba_cuda") else {}


@contextlib.contextmanager
def exact_arithmetic() -> Iterator[None]:
    """Within: Numba's CUDA target compiles with NVVM's ``-fma=0`` (no contraction of multiplies
    and adds into fused multiply-adds; module docstring). Numba has no option for it (its
    ``fastmath`` only turns contraction on), so NVVM's entry point is wrapped, under Numba's
    compiler lock, for the compilations made inside."""
    from numba.cuda.cudadrv import nvvm

    original = nvvm.compile_ir

    def compile_ir(llvmir: Any, **options: Any) -> Any:
        return original(llvmir, **{**options, "fma": False})

    with global_compiler_lock:
        nvvm.compile_ir = compile_ir
        try:
            yield
        finally:
            nvvm.compile_ir = original


def _body(jump: bool, time_major: bool) -> Any:
    """The kernel function of ``jump`` and ``time_major`` (closure constants: Numba compiles one
    branch of each).

    Thread ``j`` runs combination ``i = start + j`` (if < ``stop``) from its row of ``carried``
    into row ``j`` of ``out`` ``(stop − start, 21)``, ``daily`` ``(stop − start, d)`` and ``end``
    (its carried state at the window's end); the jump kernel reads its crosses
    ``signal_bars[signal_start[s]:signal_start[s + 1]]``, ``s = signal_row[i]``. ``time_major``:
    ``middle``/``sigma``/``atr`` are ``(bars, windows)`` (the layout's matrices transposed), so
    the threads of a warp, reading one bar of several windows, read neighbouring addresses."""

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
            if time_major:
                mid, sd, tr = middle[:, b], sigma[:, b], atr[:, a]
            else:
                mid, sd, tr = middle[b], sigma[b], atr[a]
            if jump:
                s = signal_row[i]
                combo_fast_nb(open_, high, low, close, mid, sd, tr, scalars[i, 0],
                              combo_params(scalars, i),
                              signal_bars[signal_start[s]:signal_start[s + 1]], day_end,
                              bars_per_year, elapsed_minutes, carried[i], close_end, out[j],
                              daily[j], end[j])
            else:
                combo_nb(open_, high, low, close, mid, sd, tr, scalars[i, 0],
                         combo_params(scalars, i), day_end, bars_per_year, elapsed_minutes,
                         carried[i], close_end, out[j], daily[j], end[j])

    return sweep


@functools.cache
def kernel(name: str = DEFAULT_KERNEL, max_registers: int | None = None,
           time_major: bool = False) -> Any:
    """The CUDA kernel ``name`` of :data:`KERNELS` for :data:`SIGNATURE`, with at most
    ``max_registers`` registers per thread (None: the compiler's choice; fewer registers, more
    threads resident per multiprocessor, but spills), reading time-major indicator matrices when
    ``time_major`` (:func:`_body`). Compiled here, for the current device,
    with :func:`exact_arithmetic` (so it needs a device or the simulator); it compiles nothing
    else later. Raises ``ValueError`` for an unknown name."""
    if name not in KERNELS:
        raise ValueError(f"CUDA kernel must be one of {', '.join(KERNELS)}, got {name!r}")
    if config.ENABLE_CUDASIM:  # the simulator runs Python: no registers, no compiler options
        return cuda.jit(_body(name == "jump", time_major))
    options = _LINK if max_registers is None else {**_LINK, "max_registers": int(max_registers)}
    with exact_arithmetic():
        compiled = cuda.jit(_VOID, **options)(_body(name == "jump", time_major))
        compiled.get_regs_per_thread(_VOID)  # generate the PTX and machine code now, inside
    return compiled


def ptx(name: str, cc: tuple[int, int], time_major: bool = False) -> str:
    """The PTX of kernel ``name`` for compute capability ``cc``, compiled as :func:`kernel`
    compiles it (no device needed: for reading what the compiler made)."""
    with exact_arithmetic():
        code, _ = cuda.compile_ptx(_body(name == "jump", time_major), SIGNATURE, cc=cc)
    return code


class GpuTiming(NamedTuple):
    """Seconds of one :meth:`GpuSweep.run_timed`: the kernel (launch to completion) and the
    copy of its outputs to the host."""

    kernel_s: float
    download_s: float


class GpuSweep:
    """A layout resident on GPU ``index``: the shared arrays are copied once at construction
    (``upload_s`` seconds; the indicator matrices transposed when ``time_major``); :meth:`run`
    launches ``kernel_name`` (:data:`KERNELS`, with ``max_registers``, ``block`` threads per
    block) for a range of combinations; ``resources`` says the kernel's registers and local
    bytes per thread. Raises Numba's CUDA errors (no device, out of memory, …) as they come."""

    def __init__(self, layout: Layout, index: int, kernel_name: str = DEFAULT_KERNEL, *,
                 max_registers: int | None = None, block: int = BLOCK,
                 time_major: bool = False) -> None:
        self.layout, self.index, self.block = layout, index, block
        matrices = [layout.middle, layout.sigma, layout.atr]
        if time_major:
            matrices = [m.T for m in matrices]
        with cuda.gpus[index]:
            self.kernel = kernel(kernel_name, max_registers, time_major)
            self.resources = self._resources()
            began = time.perf_counter()
            # C-contiguous, as SIGNATURE says (a transposed or sliced view would not match).
            self.arrays = [cuda.to_device(np.ascontiguousarray(a)) for a in (
                layout.open, layout.high, layout.low, layout.close, *matrices, layout.bb_row,
                layout.atr_row, layout.scalars, layout.signal_row, layout.signal_start,
                layout.signal_bars, layout.day_end, layout.start)]
            cuda.synchronize()
            self.upload_s = time.perf_counter() - began

    def _resources(self) -> dict[str, int] | None:
        """Registers and local memory (spills) per thread of the kernel on this device, its
        machine code generated here if not yet (exactly: :func:`exact_arithmetic`); None on the
        simulator."""
        if config.ENABLE_CUDASIM:
            return None
        with exact_arithmetic():
            registers = self.kernel.get_regs_per_thread(_VOID)
        return {"registers": int(registers),
                "local_bytes": int(self.kernel.get_local_mem_per_thread(_VOID))}

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
