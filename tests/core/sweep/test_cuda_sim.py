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
from types import SimpleNamespace
import numba.cuda.dispatcher as dispatcher
from numba import cuda, types

# Without a driver, device functions ask the (absent) current device for its compute capability.
dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(8, 0))
from threadx_core.sweep import cuda as sweep_cuda

vector, matrix, rows = types.float64[::1], types.float64[:, ::1], types.int64[::1]
args = (vector,) * 4 + (matrix,) * 3 + (rows, rows, matrix, rows, matrix) \\
    + (types.float64,) * 2 + (types.boolean,) + (types.int64,) * 2 + (matrix,) * 3
ptx, _ = cuda.compile_ptx(sweep_cuda.sweep_kernel.py_func, args, cc=(8, 0))
print(len(ptx), ".entry" in ptx)
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


def test_cuda_kernel_compiles_to_ptx_for_a_real_gpu() -> None:
    done = python(PTX)
    if done.returncode != 0 and "CudaSupportError" in done.stderr:
        pytest.skip("compile_ptx needs a CUDA driver here")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "True"
