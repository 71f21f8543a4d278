"""The GPU check: the CUDA sweep kernels on a real GPU, parity first, then speed, in one short run
(docs/BENCHMARKS.md, GPU). ``scripts/gpu_check.sh`` runs it; it needs ``threadx_core``'s
dependencies and Numba's CUDA target (numba-cuda), never dagster, and installs nothing.

Stages, each written to ``<out>/gpu_check.json`` as soon as it ends (a run cut short keeps what
it measured):

1. ``environment``: versions (Python, NumPy, pandas, Numba, numba-cuda, CUDA driver and
   runtime), the devices, and what ``device = "auto"`` resolves to — it must be a GPU;
2. ``compiled``: registers and local memory (spills) per thread of every kernel variant;
3. ``parity``: ``tests/core/sweep/test_cuda_parity.py`` (random markets × random grids, every
   kernel against the CPU kernel) in a process of its own, not on the simulator;
4. ``timings``: per case (synthetic BTCUSDT 1m candles), the CPU kernel on every core as the
   baseline, then every variant (kernel × register cap × threads a block): upload, kernel and
   download seconds and bar-combinations per second (bars × combinations / kernel seconds, best
   of ``repeats``), and whether its full-size results agree with the CPU's. The cases: the
   112 545-combination grid on one month (the target is ≥ 5×10¹⁰ bar-combinations/s), the
   1 760-combination reference grid on one month, and on one year — a year runs only the
   variants whose month time, times the year's bars over the month's, fits in what is left of
   ``--budget``.

The process exits 0 only when the environment is a GPU, parity held, and at least one variant
was timed and every timed variant ran and agreed with the CPU (a variant that raises is recorded
with its error, and the others still run). ``--quick`` shrinks every size (the test suite runs
it so on Numba's CUDA simulator).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np

from threadx_bench import machine
from threadx_bench.sweep import LARGE_GRID
from threadx_core import storage
from threadx_core.data.synthetic import synthetic
from threadx_core.sweep import Grid, build, cpu, parity
from threadx_core.sweep.devices import available_gpus, resolve
from threadx_core.sweep.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


class Variant(NamedTuple):
    """A CUDA kernel variant: the kernel, its register cap, threads a block, time-major
    matrices (:class:`threadx_core.sweep.cuda.GpuSweep`'s arguments)."""

    kernel: str
    max_registers: int | None
    block: int
    time_major: bool

    @classmethod
    def of(cls, row: dict[str, Any]) -> Variant:
        """The variant a report row measured."""
        return cls(*(row[field] for field in cls._fields))

    def __str__(self) -> str:
        """The plain tuple, as the skip messages name it."""
        return str(tuple(self))

    @property
    def label(self) -> str:
        """``kernel/r<cap>/b<block>/rows|time`` for the table."""
        return (f"{self.kernel}/r{self.max_registers or '-'}/b{self.block}/"
                f"{'time' if self.time_major else 'rows'}")

    def sweep(self, layout: Layout) -> Any:
        """``layout`` resident on GPU 0 for this variant."""
        from threadx_core.sweep import cuda as sweep_cuda

        return sweep_cuda.GpuSweep(layout, 0, self.kernel, max_registers=self.max_registers,
                                   block=self.block, time_major=self.time_major)


#: The variants timed. 174–184 registers a thread (ptxas, sm_90) leave 11 warps a
#: multiprocessor: 128-thread blocks fit 2 (8 warps), 32-thread blocks 11; a 128-register cap
#: fits 16 warps but spills. The first is what sweeps run (cuda.DEFAULT_KERNEL, BLOCK): the
#: baseline of the GPU rows.
VARIANTS: tuple[Variant, ...] = (
    Variant("plain", None, 128, False), Variant("plain", None, 32, False),
    Variant("jump", None, 128, False), Variant("jump", None, 32, False),
    Variant("plain", 128, 64, False), Variant("jump", 128, 64, False),
    Variant("plain", None, 32, True), Variant("jump", None, 32, True),
)
#: Cases: name → (first day, end day, grid mapping or None for the reference grid).
CASES = {
    "large_grid_one_month": ("2024-01-01", "2024-02-01", LARGE_GRID),
    "reference_one_month": ("2024-01-01", "2024-02-01", None),
    "reference_one_year": ("2024-01-01", "2025-01-01", None),
}
#: The --quick sizes: two days and small grids (the simulator runs each thread in Python).
QUICK_CASES = {
    "large_grid_one_month": ("2024-01-01", "2024-01-02", {"bb_period": [10, 20], "bb_std": [1.5, 2.0],
                                                         "atr_mult": [1.5, 2.0]}),
    "reference_one_month": ("2024-01-01", "2024-01-02", {"bb_period": [10], "bb_std": [1.5, 2.0]}),
    "reference_one_year": ("2024-01-01", "2024-01-03", {"bb_period": [10], "bb_std": [1.5, 2.0]}),
}
#: The case a year's time is predicted from, and that prediction's scale (bars of a year over a
#: month's: the per-thread loop is sequential over the bars).
YEAR, MONTH = "reference_one_year", "reference_one_month"


class Report:
    """The check's findings, rewritten to ``path`` after every stage."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, {"machine": machine.describe(), "ok": False}

    def stage(self, name: str, value: Any) -> Any:
        self.data[name] = value
        self.save()
        return value

    def save(self) -> None:
        storage.write_bytes(json.dumps(self.data, indent=2, default=str).encode(), self.path)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions, devices and the ``auto`` device choice (module docstring, stage 1)."""
    from numba import cuda

    found: dict[str, Any] = {
        "python": platform.python_version(), "numpy": np.__version__,
        "pandas": _version("pandas"), "numba": numba.__version__,
        "numba_cuda": _version("numba-cuda"), "cuda_bindings": _version("cuda-bindings"),
        "cuda_toolkit": _version("cuda-toolkit"),
        "nvjitlink": _version("nvidia-nvjitlink") or _version("nvidia-nvjitlink-cu12"),
        "simulator": bool(numba.config.ENABLE_CUDASIM),
        "auto": [d.label for d in resolve("auto")], "gpus": [],
    }
    if not found["simulator"]:
        try:
            found["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
            found["runtime"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception as exc:  # no driver: the check fails on "auto" below, saying why here
            found["driver"] = f"unavailable ({type(exc).__name__}: {str(exc).strip()[:200]})"
        try:
            from numba.cuda.cudadrv import nvvm

            found["nvvm"] = ".".join(map(str, nvvm.NVVM().get_version()))
        except Exception as exc:  # the kernels cannot compile: the parity stage will say how
            found["nvvm"] = f"unavailable ({type(exc).__name__}: {str(exc).strip()[:200]})"
    for index, name in available_gpus():
        gpu = cuda.gpus[index]
        info = {"index": index, "name": name,
                "compute_capability": list(getattr(gpu, "compute_capability", ()))}
        if not found["simulator"]:
            with gpu:
                free, total = cuda.current_context().get_memory_info()
            info |= {"multiprocessors": gpu.MULTIPROCESSOR_COUNT,
                     "memory_gib": round(total / 2**30, 1), "free_gib": round(free / 2**30, 1)}
        found["gpus"].append(info)
    return found


def compiled(layout: Layout) -> list[dict[str, Any]]:
    """Registers and local memory per thread of each variant, and the seconds to compile it and
    launch it on 2 combinations of ``layout`` (stage 2; None on the simulator, which has
    neither)."""
    # One row per compiled kernel: the block size is a launch setting, not a compilation.
    kernels: dict[tuple[str, int | None, bool], Variant] = {}
    for variant in VARIANTS:
        kernels.setdefault((variant.kernel, variant.max_registers, variant.time_major), variant)
    rows = []
    for variant in kernels.values():
        row = {k: v for k, v in variant._asdict().items() if k != "block"}
        began = time.perf_counter()
        try:
            sweep = variant.sweep(layout)
            sweep.run(0, min(2, layout.n_combos))
        except Exception as exc:  # reported; the timings stage meets it again, per variant
            row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            row |= {"first_launch_s": round(time.perf_counter() - began, 2),
                    **(sweep.resources or {"registers": None, "local_bytes": None})}
        rows.append(row)
    return rows


def parity_tests(examples: int) -> dict[str, Any]:
    """The parity properties in a process of their own (stage 3)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/core/sweep/test_cuda_parity.py"]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          env=os.environ | {"THREADX_GPU_EXAMPLES": str(examples)})
    lines = done.stdout.strip().splitlines()
    return {"ok": done.returncode == 0 and "skipped" not in done.stdout, "examples": examples,
            "seconds": round(time.perf_counter() - began, 1), "summary": lines[-1] if lines else "",
            "output_tail": "\n".join(lines[-40:]) + done.stderr[-2000:]}


def timed(layout: Layout, variant: Variant, repeats: int,
          want: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """One variant on ``layout``: best of ``repeats`` full launches, and its parity."""
    sweep = variant.sweep(layout)
    sweep.run(0, min(2, layout.n_combos))  # compile (or reuse), warm the device up
    best = None
    for _ in range(repeats):
        rows, timing = sweep.run_timed(0, layout.n_combos)
        best = timing if best is None or timing.kernel_s < best.kernel_s else best
    problem = parity.disagreement(rows, want)
    return {**variant._asdict(), "upload_s": round(sweep.upload_s, 4), "kernel_s": round(best.kernel_s, 4),
            "download_s": round(best.download_s, 4),
            "bar_combos_per_s": round(layout.n_bars * layout.n_combos / best.kernel_s),
            "agrees": problem is None, "disagreement": problem,
            "max_rel_error": parity.max_relative_error(rows[0], want[0])}


def timings(cases: dict[str, tuple[str, str, dict[str, Any] | None]], repeats: int,
            deadline: float, report: Report) -> dict[str, Any]:
    """Every case on the CPU, then on every variant that fits before ``deadline`` (stage 4)."""
    results: dict[str, Any] = report.stage("timings", {})
    for case, (first, end, spec) in cases.items():
        layout = build(synthetic("BTCUSDT", first, end), Grid(spec))
        cpu.run_chunk(layout, 0, min(2, layout.n_combos))  # compile or load Numba's cache
        began = time.perf_counter()
        want = cpu.run_chunk(layout, 0, layout.n_combos)
        cpu_s = time.perf_counter() - began
        entry = results[case] = {
            "bars": layout.n_bars, "combinations": layout.n_combos,
            "cpu": {"threads": numba.config.NUMBA_NUM_THREADS, "kernel_s": round(cpu_s, 4),
                    "bar_combos_per_s": round(layout.n_bars * layout.n_combos / cpu_s)},
            "gpu": [], "skipped": []}
        scale = layout.n_bars / results[MONTH]["bars"] if case == YEAR else 0.0
        for variant in VARIANTS:
            left = deadline - time.monotonic()
            if case == YEAR:
                month = next((r for r in results[MONTH]["gpu"] if Variant.of(r) == variant
                              and "error" not in r), None)
                if month is None:
                    entry["skipped"].append(f"{variant}: not timed on a month")
                    continue
                predicted = month["kernel_s"] * scale * repeats
                if predicted > left:
                    entry["skipped"].append(f"{variant}: predicted {predicted:.0f} s > {left:.0f} s left")
                    continue
            elif left <= 0:
                entry["skipped"].append(f"{variant}: out of time")
                continue
            try:
                entry["gpu"].append(timed(layout, variant, repeats, want))
            except Exception as exc:  # one variant failing (resources, driver) spoils no other
                entry["gpu"].append({**variant._asdict(), "agrees": False,
                                     "error": f"{type(exc).__name__}: {exc}"})
            report.save()
    return results


def table(results: dict[str, Any]) -> str:
    """The timings as a short text table (the run's last lines)."""
    lines = [f"{'case':<34} {'variant':<22} {'kernel s':>9} {'up s':>7} {'down s':>7} "
             f"{'bar-comb/s':>10} parity"]
    for case, entry in results.items():
        label = f"{case} ({entry['combinations']}×{entry['bars']})"
        cpu_row = entry["cpu"]
        lines.append(f"{label:<34} {'cpu ×' + str(cpu_row['threads']):<22} {cpu_row['kernel_s']:>9.3f} "
                     f"{'':>7} {'':>7} {cpu_row['bar_combos_per_s']:>10.3g} baseline")
        for row in entry["gpu"]:
            variant = Variant.of(row).label
            if "error" in row:
                lines.append(f"{'':<34} {variant:<22} FAILED {row['error'][:200]}")
                continue
            lines.append(f"{'':<34} {variant:<22} {row['kernel_s']:>9.3f} {row['upload_s']:>7.3f} "
                         f"{row['download_s']:>7.3f} {row['bar_combos_per_s']:>10.3g} "
                         f"{'ok' if row['agrees'] else 'DIFFERS'}")
        lines += [f"{'':<34} skipped {s}" for s in entry["skipped"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder of gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the simulator's)")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds the whole check may take (default 240)")
    parser.add_argument("--examples", type=int, default=None,
                        help="parity examples per property (default 40; 3 with --quick)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget
    report = Report(args.out / "gpu_check.json")
    env = report.stage("environment", environment())
    print(json.dumps(env), flush=True)
    if not env["auto"][0].startswith("gpu"):
        print("FAILED: no usable CUDA GPU: device 'auto' resolves to the CPU", flush=True)
        return 1
    cases = QUICK_CASES if args.quick else CASES
    first, end, spec = cases[MONTH]
    print(json.dumps(report.stage("compiled", compiled(build(synthetic("BTCUSDT", first, end),
                                                             Grid(spec))))), flush=True)
    checked = report.stage("parity", parity_tests(args.examples or (3 if args.quick else 40)))
    print(f"parity: {checked['summary']} ({checked['seconds']} s)", flush=True)
    if not checked["ok"]:
        print(checked["output_tail"], flush=True)
    results = timings(cases, 1 if args.quick else 2, deadline, report)
    rows = [row for entry in results.values() for row in entry["gpu"]]
    agreed = bool(rows) and all(row["agrees"] for row in rows)
    report.data["ok"] = bool(checked["ok"] and agreed)
    report.save()
    print(table(results))
    verdict = "all agree with the CPU" if agreed else "NOT ALL ran and agree with the CPU"
    print(f"{'OK' if report.data['ok'] else 'FAILED'}: parity {checked['summary']}; timed variants "
          f"{verdict}; {args.out / 'gpu_check.json'}")
    return 0 if report.data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
