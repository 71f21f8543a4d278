"""The CUDA sweep kernel: parity with the CPU kernel on Numba's CUDA simulator, and PTX
compilation for a real GPU. Each check runs in a subprocess, because ``NUMBA_ENABLE_CUDASIM``
must be set before ``numba.cuda`` is first imported (and must not leak into other tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from threadx_bench import gpu_check

ROOT = Path(__file__).resolve().parents[3]

PARITY = """
import json
import numpy as np
import pandas as pd
from threadx_core import sweep
from threadx_core.engine import Params
from threadx_core.sweep import Grid, build, cpu, cuda

rng = np.random.default_rng(12)
n = 300
close = 100.0 * np.exp(np.cumsum(rng.standard_t(3, n) * 0.004))
open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.002, n))
high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close},
                     index=pd.date_range("2024-03-01 20:00", periods=n, freq="30min", tz="UTC"))
grid = Grid({"bb_period": [5, 12], "bb_std": [1.0, 2.0], "fill": ["next_open", "close"]},
            Params(max_hold_bars=6, atr_method="ema"))
layout = build(frame, grid, warmup_bars=20)
on_cpu = cpu.run_chunk(layout, 0, len(grid))
gpu = cuda.GpuSweep(layout, 0).run(0, len(grid))
part = cuda.GpuSweep(layout, 0).run(3, 7)
via_run = sweep.run_with_daily(frame, grid, "gpu", warmup_bars=20)
via_cpu = sweep.run_with_daily(frame, grid, "cpu", warmup_bars=20)
print(json.dumps({
    "trades": on_cpu[0][:, 8].tolist(), "gpu_trades": gpu[0][:, 8].tolist(),
    "metrics_close": bool(np.allclose(gpu[0], on_cpu[0], rtol=1e-9, atol=0, equal_nan=True)),
    "daily_close": bool(np.allclose(gpu[1], on_cpu[1], rtol=1e-9, atol=1e-15)),
    "chunk_close": bool(np.allclose(part[0], on_cpu[0][3:7], rtol=1e-9, atol=0, equal_nan=True)),
    "days": layout.n_days,
    "run_devices": via_run.devices, "run_warning": via_run.warning,
    "run_close": bool(np.allclose(via_run.results.iloc[:, 15:].to_numpy(float),
                                  via_cpu.results.iloc[:, 15:].to_numpy(float),
                                  rtol=1e-9, atol=0, equal_nan=True)),
}))
"""

CHAIN = """
import json
import numpy as np
from threadx_core.engine import Params
from threadx_core.sweep import Grid
from threadx_core.sweep.run import run_with_daily
from threadx_core.testing.candles import fat_tailed_walk

frame = fat_tailed_walk(240, 9)
grid = Grid({"bb_period": [4, 8], "fill": ["next_open", "close"]}, Params(bb_std=0.8))
whole = run_with_daily(frame, grid, "cpu", bar_minutes=30)
state, carried = None, []
for a, b in ((0, 70), (70, 161), (161, 240)):
    out = run_with_daily(frame.iloc[:b], grid, "gpu", bar_minutes=30, warmup_bars=a, start=state,
                         close_at_end=b == 240)
    state = out.end_state
    carried.append(int((out.end_state["side"] != 0).sum() + (out.end_state["pending"] != 0).sum()))
print(json.dumps({
    "devices": out.devices, "carried": carried[:-1], "trades": whole.results["n_trades"].tolist(),
    "gpu_trades": out.results["n_trades"].tolist(),
    "metrics_close": bool(np.allclose(out.results.iloc[:, 15:].to_numpy(float),
                                      whole.results.iloc[:, 15:].to_numpy(float),
                                      rtol=1e-9, atol=0, equal_nan=True)),
    "state_close": bool(np.allclose(state.to_numpy(float), whole.end_state.to_numpy(float),
                                    rtol=1e-9, atol=0, equal_nan=True)),
}))
"""

PTX = """
import json, re
from types import SimpleNamespace
import numba.cuda.dispatcher as dispatcher

# Without a driver, device functions ask the (absent) current device for its compute capability.
dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(8, 0))
from threadx_core.sweep import cuda as sweep_cuda

found = {}
for name in sweep_cuda.KERNELS:
    code = sweep_cuda.ptx(name, (8, 0))
    blocks = re.split(r"\\n(?=(?:\\.visible |\\.weak )?\\.(?:entry|func)\\b)", code)
    entry = [b for b in blocks if ".entry" in b.split("\\n", 1)[0]]
    found[name] = {"entries": len(entry), "fused": sum(b.count("fma.rn.f64") for b in entry),
                   "multiplies": sum(b.count("mul.rn.f64") for b in entry)}
print(json.dumps(found))
"""

def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"} | env
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def test_cuda_kernel_matches_the_cpu_kernel_on_the_simulator() -> None:
    done = python(PARITY, NUMBA_ENABLE_CUDASIM="1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["gpu_trades"] == result["trades"] and sum(result["trades"]) > 0
    assert result["metrics_close"] and result["daily_close"] and result["chunk_close"]
    assert result["days"] >= 6
    assert result["run_devices"] == ["gpu:0"] and result["run_warning"] is None
    assert result["run_close"]


def test_cuda_kernel_chains_windows_through_carried_state_on_the_simulator() -> None:
    done = python(CHAIN, NUMBA_ENABLE_CUDASIM="1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == ["gpu:0"] and min(result["carried"]) > 0
    assert result["gpu_trades"] == result["trades"] and sum(result["trades"]) > 0
    assert result["metrics_close"] and result["state_close"]


def test_cuda_kernels_compile_to_ptx_for_a_real_gpu_without_fused_multiply_adds() -> None:
    """Both kernels compile for a real GPU (compute capability 8.0, no device needed), and their
    code has no fused multiply-add: every multiply rounds on its own, as on the CPU (the
    libdevice functions they call, ``pow``, keep theirs)."""
    done = python(PTX)
    if done.returncode != 0 and "CudaSupportError" in done.stderr:
        pytest.skip("compile_ptx needs a CUDA driver here")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found) == {"plain", "jump"}
    for kernel in found.values():
        assert kernel["entries"] == 1 and kernel["fused"] == 0 and kernel["multiplies"] > 20


def test_the_gpu_check_runs_end_to_end_on_the_simulator(tmp_path: Path) -> None:
    """scripts/gpu_check.sh --quick: every stage, every variant timed next to the CPU baseline
    and agreeing with it, the report written where $OUT says. Its parity stage is
    test_cuda_parity.py, what the check runs on a real GPU: here it runs on the simulator (12
    examples a property), so that it is known to run, and its kernels to agree, before any GPU
    does."""
    environment = {k: v for k, v in os.environ.items() if k != "THREADX_GPU_EXAMPLES"} | {
        "NUMBA_ENABLE_CUDASIM": "1", "OUT": str(tmp_path), "PYTHON": sys.executable,
        "THREADX_WHEELS": str(tmp_path / "no-wheels")}
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--quick", "--examples", "12"], cwd=ROOT,
                          env=environment,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["ok"] and report["environment"]["auto"] == ["gpu:0"]
    assert report["parity"]["ok"] and report["parity"]["examples"] == 12
    assert report["parity"]["summary"].startswith("3 passed")
    assert {(r["kernel"], r["max_registers"], r["time_major"]) for r in report["compiled"]} == {
        (name, registers, time_major) for name, registers, _, time_major in gpu_check.VARIANTS}
    assert list(report["timings"]) == list(gpu_check.QUICK_CASES)
    for case in report["timings"].values():
        assert case["cpu"]["bar_combos_per_s"] > 0 and not case["skipped"]
        timed = [(r["kernel"], r["max_registers"], r["block"], r["time_major"]) for r in case["gpu"]]
        assert timed == list(gpu_check.VARIANTS)
        assert all(r["agrees"] and r["kernel_s"] > 0 and r["bar_combos_per_s"] > 0 for r in case["gpu"])
    assert done.stdout.strip().splitlines()[-1].startswith("OK: parity 3 passed")


def test_the_gpu_check_fails_where_there_is_no_gpu(tmp_path: Path) -> None:
    """Without a GPU the check says so and exits 1: it never reports the CPU fallback as a GPU."""
    done = python("import sys; from threadx_bench import gpu_check; "
                  f"sys.exit(gpu_check.main(['--quick', '--out', {str(tmp_path)!r}]))")
    if done.returncode == 0:
        pytest.skip("this machine has a usable CUDA GPU")
    assert done.returncode == 1, done.stderr
    assert "FAILED: no usable CUDA GPU: device 'auto' resolves to the CPU" in done.stdout
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["ok"] is False and report["environment"]["auto"] == ["cpu"]


def test_a_failing_variant_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    """A variant that raises (here an unknown kernel) is one FAILED row with its error: the
    check goes on with the others, and exits 1."""
    done = python("import sys; from threadx_bench import gpu_check as check; "
                  "check.VARIANTS = (check.Variant('nope', None, 32, False), check.VARIANTS[0]); "
                  f"sys.exit(check.main(['--quick', '--examples', '1', '--out', {str(tmp_path)!r}]))",
                  NUMBA_ENABLE_CUDASIM="1")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["ok"] is False and report["parity"]["ok"]
    assert report["compiled"][0]["error"].startswith("ValueError: CUDA kernel must be one of")
    for name, case in report["timings"].items():
        if name == gpu_check.YEAR:
            assert case["skipped"] == ["('nope', None, 32, False): not timed on a month"]
        else:
            assert case["gpu"][0]["error"].startswith("ValueError: CUDA kernel must be one of")
        assert case["gpu"][-1]["agrees"] and case["gpu"][-1]["kernel"] == "plain"
    assert "nope/r-/b32/rows       FAILED ValueError" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("FAILED: parity 3 passed") and "NOT ALL ran and agree" in last
