"""The GPU stack: CUDA driver and runtime, each device (name, memory, compute capability), the
CUDA sweep kernel compiled and run on each device against the CPU kernel (a tiny sweep,
:mod:`threadx_core.doctor.sweep_probe`), and CuPy.

No CUDA device is not a fault of the machine: sweeps then run on the CPU, and the check is ok —
unless ``[device] mode`` asks for a GPU (``gpu``, ``multi-gpu``), where it is an error. What is
found comes from a :data:`Probe` (:func:`probe_cuda`: Numba's CUDA target; under
``NUMBA_ENABLE_CUDASIM=1``, Numba's simulated device), the seam where tests put a stack of
their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from threadx_core.doctor import sweep_probe
from threadx_core.doctor.report import GIB, Check
from threadx_core.sweep import devices, parity

#: The modes that need a GPU: without one they fail (``devices.resolve``).
GPU_MODES = ("gpu", "multi-gpu")


@dataclass(frozen=True)
class GpuInfo:
    """A CUDA device: ``index``, ``name``, memory in bytes (None: not reported, as by the
    simulator) and ``compute_capability`` (major, minor)."""

    index: int
    name: str
    total_bytes: int | None
    free_bytes: int | None
    compute_capability: tuple[int, int]


@dataclass(frozen=True)
class CudaStack:
    """What CUDA offers here: ``driver`` and ``runtime`` versions ("12.4"; None when absent),
    ``devices``, and ``problem``, why there is no device (None when there are)."""

    driver: str | None
    runtime: str | None
    devices: tuple[GpuInfo, ...]
    problem: str | None = None


#: ``probe() -> CudaStack``: how the stack is discovered.
Probe = Callable[[], CudaStack]
#: ``parity(index) -> Check``: the kernel check of one device.
Parity = Callable[[int], Check]


def probe_cuda() -> CudaStack:
    """The stack Numba's CUDA target sees; never raises (a broken install is a ``problem``)."""
    try:
        from numba import config, cuda
    except Exception as exc:  # Numba without its CUDA target, a broken install
        return CudaStack(None, None, (), f"numba.cuda unavailable ({type(exc).__name__}: {exc})")
    runtime = _version(cuda.runtime.get_version)
    if config.ENABLE_CUDASIM:
        driver = "Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    else:
        from numba.cuda.cudadrv.driver import driver as cuda_driver

        driver = _version(cuda_driver.get_version)
    found = devices.available_gpus()
    if not found:
        return CudaStack(driver, runtime, (), _first_line(cuda.cuda_error()) or "no device")
    try:
        return CudaStack(driver, runtime, tuple(_info(cuda, i, name) for i, name in found))
    except Exception as exc:  # a device listed but not queryable (no context: driver, memory)
        return CudaStack(driver, runtime, (), f"devices {found} listed but not queryable "
                         f"({type(exc).__name__}: {_first_line(exc)})")


def check_stack(stack: CudaStack, mode: str) -> Check:
    """The driver and runtime, or why there is no device (an error only when ``mode`` needs one)."""
    versions = f"driver {stack.driver or 'none'}, runtime {stack.runtime or 'none'}"
    if stack.devices:
        return Check.ok("cuda", f"{versions}, {len(stack.devices)} device(s)")
    detail = f"no CUDA device ({stack.problem}); {versions}"
    if mode in GPU_MODES:
        return Check.error("cuda", f"{detail}, but [device] mode = {mode!r} needs one "
                           "(use 'auto' or 'cpu')")
    return Check.ok("cuda", f"{detail}: sweeps run on the CPU ([device] mode = {mode!r})")


def check_device(gpu: GpuInfo) -> Check:
    """A device's name, memory and compute capability."""
    if gpu.total_bytes is None:
        memory = "memory not reported"
    else:
        free = "" if gpu.free_bytes is None else f", {gpu.free_bytes / GIB:.1f} GiB free"
        memory = f"{gpu.total_bytes / GIB:.1f} GiB{free}"
    major, minor = gpu.compute_capability
    return Check.ok(f"gpu:{gpu.index}", f"{gpu.name}, {memory}, compute capability {major}.{minor}")


def check_parity(index: int) -> Check:
    """The CUDA sweep kernel compiled and run on GPU ``index``, against the CPU kernel."""
    name = f"gpu:{index} kernel"
    cpu = sweep_probe.on_cpu()
    try:
        gpu = sweep_probe.on_gpu(index)
    except (RuntimeError, ValueError) as exc:  # the device is not usable by the sweeps at all
        return Check.error(name, f"the sweep cannot use gpu:{index}: {exc}")
    if gpu.devices != [f"gpu:{index}"]:
        return Check.error(name, f"the CUDA sweep kernel failed on gpu:{index}: {gpu.warning}")
    differs = sweep_probe.disagreement(gpu, cpu)
    if differs is not None:
        return Check.error(name, f"CUDA and CPU kernels disagree on the tiny sweep: {differs}")
    return Check.ok(name, f"CUDA sweep kernel ran and agrees with the CPU on {len(sweep_probe.GRID)} "
                    f"combinations × {len(sweep_probe.bars())} bars ({int(cpu.results['n_trades'].sum())} "
                    f"trades, rtol {parity.RTOL:g})")


def check_cupy() -> Check:
    """CuPy's version and the CUDA runtime it links; optional (the sweeps use Numba's CUDA)."""
    try:
        import cupy
    except ImportError:
        return Check.ok("cupy", "not installed (optional: the sweeps use Numba's CUDA)")
    except Exception as exc:  # installed but broken, e.g. built for another CUDA
        return Check.warning("cupy", f"installed but does not import ({type(exc).__name__}: {exc})")
    try:
        # CUDA encodes versions as 1000·major + 10·minor (12040 → 12.4)
        runtime = cupy.cuda.runtime.runtimeGetVersion()
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver or device: CuPy imports but cannot run
        return Check.ok("cupy", f"{cupy.__version__}, no usable device ({type(exc).__name__})")
    return Check.ok("cupy", f"{cupy.__version__}, CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}, "
                    f"{count} device(s)")


def gpu_checks(mode: str, probe: Probe = probe_cuda, parity: Parity = check_parity) -> list[Check]:
    """The stack, then each device and its kernel check, then CuPy."""
    stack = probe()
    checks = [check_stack(stack, mode)]
    for gpu in stack.devices:
        checks += [check_device(gpu), parity(gpu.index)]
    return [*checks, check_cupy()]


def _info(cuda: object, index: int, name: str) -> GpuInfo:
    device = cuda.gpus[index]  # type: ignore[attr-defined]
    with device:
        free, total = cuda.current_context().get_memory_info()  # type: ignore[attr-defined]
    known = [None if not math.isfinite(b) else int(b) for b in (total, free)]  # the simulator: inf
    major, minor = device.compute_capability
    return GpuInfo(index, name, known[0], known[1], (int(major), int(minor)))


def _version(get: Callable[[], tuple[int, int]]) -> str | None:
    """``get()``'s (major, minor) as "major.minor"; None when it raises or is unknown (−1)."""
    try:
        major, minor = get()
    except Exception:  # no library to ask
        return None
    return None if major < 0 else f"{major}.{minor}"


def _first_line(error: object) -> str:
    return next((line.strip().rstrip(".:") for line in str(error or "").splitlines() if line.strip()), "")
