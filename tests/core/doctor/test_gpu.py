"""The GPU stack: no device here (ok, or an error when [device] mode asks for a GPU), a device
stack given at the probe seam (name, memory, compute capability; the kernel check runs), the
CPU side (Numba's threading layer). The simulated CUDA stack end to end:
tests/pipeline/test_doctor.py."""

from __future__ import annotations

import pytest

from threadx_core.doctor import sweep_probe
from threadx_core.doctor.cpu import check_numba
from threadx_core.doctor.gpu import CudaStack, GpuInfo, check_parity, gpu_checks, probe_cuda
from threadx_core.doctor.report import GIB, Status
from threadx_core.sweep import devices

H200 = GpuInfo(0, "NVIDIA H200", 141 * GIB, 140 * GIB, (9, 0))

needs_no_gpu = pytest.mark.skipif(bool(devices.available_gpus()), reason="a CUDA device is present")


@needs_no_gpu
def test_no_cuda_device_here_is_ok_unless_the_mode_asks_for_a_gpu():
    stack = probe_cuda()
    assert stack.devices == () and stack.problem
    (cuda, cupy) = gpu_checks("auto", lambda: stack)
    assert cuda.status is Status.OK and cuda.detail.startswith("no CUDA device (")
    assert cuda.detail.endswith("sweeps run on the CPU ([device] mode = 'auto')")
    assert cupy.name == "cupy"
    for mode in ("gpu", "multi-gpu"):
        (cuda, _) = gpu_checks(mode, lambda: stack)
        assert cuda.status is Status.ERROR and f"[device] mode = {mode!r} needs one" in cuda.detail


@needs_no_gpu
def test_a_device_is_reported_and_its_kernel_check_runs_the_sweep_on_it():
    stack = CudaStack("12.8", "12.6", (H200,))
    cuda, device, kernel, _ = gpu_checks("gpu", lambda: stack)
    assert (cuda.status, cuda.detail) == (Status.OK, "driver 12.8, runtime 12.6, 1 device(s)")
    assert device.name == "gpu:0" and device.status is Status.OK
    assert device.detail == "NVIDIA H200, 141.0 GiB, 140.0 GiB free, compute capability 9.0"
    # the real kernel check ran: the sweep's own device resolution finds no such GPU here
    assert kernel == check_parity(0)
    assert kernel.status is Status.ERROR and kernel.detail.startswith("the sweep cannot use gpu:0")


def test_numba_reports_its_threading_layer_after_running_the_cpu_kernel():
    check = check_numba()
    assert check.status is Status.OK and "CPU kernel ran 4 combinations" in check.detail
    assert any(f"threading layer {layer}," in check.detail for layer in ("omp", "tbb", "workqueue"))


def test_the_kernel_check_holds_the_gpu_to_the_cpu_by_the_contract():
    cpu = sweep_probe.on_cpu()

    def gpu_with(key, change):
        results = cpu.results.copy()
        results[key] = change(results[key])
        return cpu._replace(results=results, devices=["gpu:0"])

    assert sweep_probe.disagreement(gpu_with("sharpe", lambda s: s * (1 + 1e-12)), cpu) is None
    off = sweep_probe.disagreement(gpu_with("sharpe", lambda s: s * (1 + 1e-6)), cpu)
    assert off.startswith("sharpe differs at row 0: ")
    trades = sweep_probe.disagreement(gpu_with("n_trades", lambda s: s + 1), cpu)
    assert trades.startswith("n_trades differs at row 0: ") and f"of {len(cpu.results)})" in trades
