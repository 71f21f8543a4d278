"""Where a sweep runs (docs/ARCHITECTURE.md, Sweeps and devices): device discovery, selection, work split,
merge and fallback.

Pure Python: this module knows devices and row ranges, not kernels. Work is described by a
:data:`Runner` — ``runner(device, start, stop)`` computes combinations ``[start, stop)`` on
``device`` and returns their result rows (arrays whose first axis has ``stop − start`` rows) —
and :func:`run_split` cuts ``[0, n)`` into one contiguous slice per device, runs the devices in
parallel threads, chunk by chunk, and concatenates the rows in grid order, so the output does not
depend on the split. A GPU that raises (any error: CUDA driver, compilation, out of memory) has
its remaining rows recomputed on the CPU, and the report says so.
"""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

#: The device modes of ``[device] mode`` (the settings check against this tuple).
MODES = ("auto", "cpu", "gpu", "multi-gpu")


@dataclass(frozen=True)
class Device:
    """A compute device: ``kind`` "cpu" or "gpu", ``index`` the CUDA device index (−1 for the
    CPU), ``name`` for people."""

    kind: str
    index: int = -1
    name: str = "cpu"

    @property
    def label(self) -> str:
        """"cpu" or "gpu:<index>"."""
        return "cpu" if self.kind == "cpu" else f"gpu:{self.index}"


CPU = Device("cpu")

#: ``runner(device, start, stop) -> rows``: results of combinations ``[start, stop)``, each array
#: with ``stop − start`` rows.
Runner = Callable[[Device, int, int], Sequence[np.ndarray]]
#: ``progress(done, total)``: combinations finished so far, out of ``total``.
Progress = Callable[[int, int], None]


@dataclass
class SplitReport:
    """What :func:`run_split` did: ``devices`` that actually produced rows (labels, in device
    order, the CPU appended after a fallback), ``weights`` used for the split, ``rows`` per
    label, and a ``warning`` for the run log (None when all went as asked)."""

    devices: list[str]
    weights: list[float]
    rows: dict[str, int] = field(default_factory=dict)
    warning: str | None = None


def available_gpus() -> list[tuple[int, str]]:
    """``[(index, name)]`` of the CUDA GPUs Numba can use; empty — never raising — without
    Numba's CUDA target, a driver or a device (under ``NUMBA_ENABLE_CUDASIM=1``: the simulated
    device)."""
    try:
        from numba import cuda

        if not cuda.is_available():
            return []
        return [(int(gpu.id), _gpu_name(gpu)) for gpu in cuda.gpus]
    except Exception:  # no driver, broken install, …: simply no GPU
        return []


def _gpu_name(gpu: object) -> str:
    name = getattr(gpu, "name", b"gpu")
    return name.decode() if isinstance(name, bytes) else str(name)


def resolve(mode: str = "auto", indices: Sequence[int] | None = None,
            gpus: Sequence[tuple[int, str]] | None = None) -> list[Device]:
    """The devices for ``mode``: ``cpu`` → [CPU]; ``gpu`` → the first of ``indices`` (default:
    the first GPU); ``multi-gpu`` → every GPU of ``indices`` (default: all); ``auto`` → the GPU
    of ``gpu`` when one is available, else the CPU. ``gpus`` overrides discovery
    (:func:`available_gpus`). Raises ``ValueError`` for an unknown mode or index and
    ``RuntimeError`` when ``gpu``/``multi-gpu`` is asked for without a GPU."""
    if mode not in MODES:
        raise ValueError(f"device mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "cpu":
        return [CPU]
    found = dict(available_gpus() if gpus is None else gpus)
    if not found:
        if mode == "auto":
            return [CPU]
        raise RuntimeError(f"device mode {mode!r} needs a CUDA GPU, but none is usable here "
                           "(no driver, no device, or Numba's CUDA target unavailable); use 'cpu' or 'auto'")
    wanted = sorted(found) if indices is None else list(indices)
    unknown = [i for i in wanted if i not in found]
    if unknown or not wanted:
        raise ValueError(f"GPU index(es) {unknown or wanted} not available; available: {sorted(found)}")
    chosen = wanted if mode == "multi-gpu" else wanted[:1]
    return [Device("gpu", i, found[i]) for i in chosen]


def split(n: int, weights: Sequence[float]) -> list[slice]:
    """Cut ``range(n)`` into ``len(weights)`` contiguous, ordered, covering slices with sizes
    proportional to ``weights`` (largest-remainder rounding; a zero weight gets an empty slice).
    Raises ``ValueError`` for a negative or non-finite weight or all-zero weights."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, ≥ 0 and not all 0, got {list(weights)}")
    exact = n * w / w.sum()
    sizes = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: n - int(sizes.sum())]] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _probe(device: Device, runner: Runner, probe: int) -> float | str:
    """Combinations per second of ``device`` on ``probe`` combinations, or the error message."""
    try:
        runner(device, 0, probe)
        began = time.perf_counter()
        runner(device, 0, probe)
        return probe / max(time.perf_counter() - began, 1e-9)
    except Exception as exc:
        if device.kind == "cpu":
            raise
        return f"{type(exc).__name__}: {exc}"


def run_split(n: int, devices: Sequence[Device], runner: Runner,
              weights: Sequence[float] | str | None = None, *, chunk: int = 256,
              gpu_chunk: int = 16_384, progress: Progress | None = None, probe: int = 32,
              fallback: Runner | None = None) -> tuple[list[np.ndarray], SplitReport]:
    """Run combinations ``[0, n)`` over ``devices`` and merge the rows in grid order.

    ``weights``: split ratios, one per device; None → equal; ``"auto"`` → measured throughput
    (combinations per second of each device on ``probe`` combinations, timed after one untimed
    call that compiles and warms it up; a GPU whose probe raises gets weight 0 and is reported).
    Each device runs its slice in its own thread, ``chunk`` (CPU) or ``gpu_chunk`` (GPU: one
    thread per combination needs many) combinations per ``runner`` call, and
    ``progress(done, n)`` is called after every chunk (from the worker threads, serialised).
    When a GPU's call raises, its unfinished rows run on the CPU through ``fallback`` (default
    ``runner`` with :data:`CPU`) and the report carries a warning (also emitted as a
    ``RuntimeWarning``); CPU errors propagate. Returns the merged arrays (as many as the runner
    returns, each with ``n`` rows) and a :class:`SplitReport`.
    """
    if not devices:
        raise ValueError("run_split needs at least one device")
    if chunk < 1 or gpu_chunk < 1:
        raise ValueError(f"chunk sizes must be ≥ 1, got {chunk} and {gpu_chunk}")
    weights, failed = _weights(devices, runner, weights, min(probe, n))
    slices = split(n, weights)
    tracker = _Tracker(n, progress)
    cpu_runner = fallback or runner

    def work(device: Device, part: slice) -> _SliceRun:
        size = chunk if device.kind == "cpu" else gpu_chunk
        return _run_slice(device, part, runner, cpu_runner, size, chunk, tracker)

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        runs = list(pool.map(work, devices, slices))
    return _merge(devices, runs, weights, failed)


def _weights(devices: Sequence[Device], runner: Runner, weights: Sequence[float] | str | None,
             probe: int) -> tuple[list[float], list[str]]:
    """The split ratios and, for ``"auto"``, the devices whose probe failed (with the error)."""
    if weights is None:
        return [1.0] * len(devices), []
    if isinstance(weights, str):
        if weights != "auto":
            raise ValueError(f"weights must be ratios, None or 'auto', got {weights!r}")
        probed = [_probe(d, runner, probe) if probe else 1.0 for d in devices]
        failed = [f"{d.label} ({d.name}): {w}" for d, w in zip(devices, probed, strict=True)
                  if isinstance(w, str)]
        ratios = [w if isinstance(w, float) else 0.0 for w in probed]
        return (ratios if sum(ratios) > 0 else [1.0] * len(devices)), failed
    if len(weights) != len(devices):
        raise ValueError(f"{len(weights)} weights for {len(devices)} devices")
    return [float(w) for w in weights], []


class _Tracker:
    """Thread-safe ``done`` counter calling ``progress(done, total)``."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self.lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self.lock:
            self.done += rows
            if self.progress is not None:
                self.progress(self.done, self.total)


@dataclass
class _SliceRun:
    """One device's slice: result chunks in order, rows per device label that computed them,
    the first error of a GPU (None if none)."""

    chunks: list[list[np.ndarray]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _run_slice(device: Device, part: slice, runner: Runner, cpu_runner: Runner, chunk: int,
               cpu_chunk: int, tracker: _Tracker) -> _SliceRun:
    """Chunks of ``part`` on ``device``; after a GPU error, the rest on the CPU."""
    run = _SliceRun()
    start = part.start
    while start < part.stop:
        stop = min(start + (chunk if run.error is None else cpu_chunk), part.stop)
        where = device if run.error is None else CPU
        try:
            rows = (runner if where is device else cpu_runner)(where, start, stop)
        except Exception as exc:
            if where.kind == "cpu":
                raise
            run.error = f"{device.label} ({device.name}): {type(exc).__name__}: {exc}"
            continue
        run.chunks.append(list(rows))
        run.rows[where.label] = run.rows.get(where.label, 0) + stop - start
        tracker.add(stop - start)
        start = stop
    return run


def _merge(devices: Sequence[Device], runs: list[_SliceRun], weights: list[float],
           failed: list[str]) -> tuple[list[np.ndarray], SplitReport]:
    """Concatenate the chunks in grid order and report who did what."""
    rows: dict[str, int] = {}
    for run in runs:
        for label, count in run.rows.items():
            rows[label] = rows.get(label, 0) + count
    labels = list(dict.fromkeys(d.label for d in devices if rows.get(d.label)))
    if rows.get(CPU.label) and CPU.label not in labels:
        labels.append(CPU.label)
    errors = failed + [run.error for run in runs if run.error is not None]
    warning = None
    if errors:
        warning = "CUDA failed; the CPU computed those rows instead: " + "; ".join(errors)
        warnings.warn(warning, RuntimeWarning, stacklevel=3)
    pieces = [chunk for run in runs for chunk in run.chunks]
    if not pieces:
        raise ValueError("nothing to run: zero combinations")
    merged = [np.concatenate(parts) for parts in zip(*pieces, strict=True)]
    return merged, SplitReport(labels, weights, rows, warning)
