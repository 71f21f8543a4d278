"""Device selection, split/merge and CUDA fallback (docs/ARCHITECTURE.md, Sweeps and devices),
with CPU stand-ins for GPUs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import sweep
from threadx_core.sweep import Grid, build, devices
from threadx_core.sweep.devices import CPU, Device, resolve, run_split, split
from threadx_core.sweep.run import layout_runner

GPUS = [(0, "Fake A100"), (1, "Fake H100")]


def frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.003,
                         "low": np.minimum(open_, close) * 0.997, "close": close},
                        index=pd.date_range("2024-05-01", periods=n, freq="15min", tz="UTC"))


@pytest.fixture(scope="module")
def layout() -> sweep.Layout:
    return build(frame(), Grid({"bb_period": [4, 8, 16], "bb_std": [1.0, 1.5, 2.0],
                                "atr_mult": [1.0, 2.0], "fill": ["next_open", "close"]}))


@pytest.fixture(scope="module")
def expected(layout) -> list[np.ndarray]:
    return list(layout_runner(layout)(CPU, 0, layout.n_combos))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 5000), st.lists(st.floats(0, 100), min_size=1, max_size=6).filter(lambda w: sum(w) > 0))
def test_split_is_contiguous_covering_and_proportional(n, weights) -> None:
    parts = split(n, weights)
    assert len(parts) == len(weights) and parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in itertools.pairwise(parts))
    for part, w in zip(parts, weights, strict=True):
        assert abs((part.stop - part.start) - n * w / sum(weights)) < 1
        assert w > 0 or part.stop == part.start


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1, float("nan")]])
def test_split_rejects_bad_weights(weights) -> None:
    with pytest.raises(ValueError, match="weights"):
        split(10, weights)


def test_available_gpus_never_raises() -> None:
    assert all(isinstance(i, int) and isinstance(name, str) for i, name in devices.available_gpus())


def test_resolve_modes() -> None:
    assert resolve("cpu", gpus=GPUS) == [CPU]
    assert resolve("auto", gpus=[]) == [CPU]
    assert resolve("auto", gpus=GPUS) == [Device("gpu", 0, "Fake A100")]
    assert resolve("gpu", [1], gpus=GPUS) == [Device("gpu", 1, "Fake H100")]
    assert [d.label for d in resolve("multi-gpu", gpus=GPUS)] == ["gpu:0", "gpu:1"]
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        resolve("gpu", gpus=[])
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        resolve("multi-gpu", gpus=[])
    with pytest.raises(ValueError, match=r"\[3\] not available"):
        resolve("multi-gpu", [0, 3], gpus=GPUS)
    with pytest.raises(ValueError, match="device mode"):
        resolve("tpu")


@pytest.mark.parametrize("weights", [None, [1, 3], [5, 1, 2], [0, 1], "auto"])
def test_merge_is_identical_whatever_the_split(layout, expected, weights) -> None:
    count = 3 if isinstance(weights, list) and len(weights) == 3 else 2
    cpus = [Device("cpu", -1, f"cpu {k}") for k in range(count)]
    merged, report = run_split(layout.n_combos, cpus, layout_runner(layout), weights, chunk=4)
    for got, want in zip(merged, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert report.devices == ["cpu"] and report.warning is None
    assert sum(report.rows.values()) == layout.n_combos


def gpu_runner(layout: sweep.Layout, fail_after: int):
    """CPU results labelled GPU, raising like a CUDA driver after ``fail_after`` calls."""
    inner = layout_runner(layout)
    calls = {"gpu": 0}

    def runner(device: Device, start: int, stop: int):
        if device.kind == "gpu":
            calls["gpu"] += 1
            if calls["gpu"] > fail_after:
                raise RuntimeError("CUDA_ERROR_ILLEGAL_ADDRESS")
        return inner(CPU, start, stop)

    return runner


@pytest.mark.parametrize("fail_after", [0, 1])
def test_cuda_failure_falls_back_to_the_cpu_with_a_warning(layout, expected, fail_after) -> None:
    gpus = [Device("gpu", 0, "Fake A100"), Device("gpu", 1, "Fake H100")]
    with pytest.warns(RuntimeWarning, match="CUDA_ERROR_ILLEGAL_ADDRESS"):
        merged, report = run_split(layout.n_combos, gpus, gpu_runner(layout, fail_after), [1, 1],
                                   gpu_chunk=10)
    for got, want in zip(merged, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert report.devices[-1] == "cpu" and "gpu:0 (Fake A100)" in report.warning
    assert sum(report.rows.values()) == layout.n_combos
    assert ("gpu:0" in report.devices) == (fail_after > 0)


def test_a_gpu_failing_its_probe_is_excluded_and_reported(layout, expected) -> None:
    devices_ = [Device("gpu", 0, "Fake A100"), CPU]
    with pytest.warns(RuntimeWarning, match="gpu:0"):
        merged, report = run_split(layout.n_combos, devices_, gpu_runner(layout, 0), "auto")
    np.testing.assert_array_equal(merged[0], expected[0])
    assert report.devices == ["cpu"] and report.weights[0] == 0.0


def test_progress_reaches_the_total_once_per_chunk(layout) -> None:
    calls: list[tuple[int, int]] = []
    run_split(layout.n_combos, [CPU, CPU], layout_runner(layout), [1, 1], chunk=5,
              progress=lambda done, total: calls.append((done, total)))
    n = layout.n_combos
    assert len(calls) == 2 * -(-n // 2 // 5) and calls[-1] == (n, n)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_cpu_errors_propagate(layout) -> None:
    def broken(device: Device, start: int, stop: int):
        raise MemoryError("no room")

    with pytest.raises(MemoryError):
        run_split(layout.n_combos, [CPU], broken)


@pytest.mark.skipif(bool(devices.available_gpus()), reason="a GPU is present")
def test_sweep_on_gpu_without_one_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        sweep.run(frame(), Grid({"bb_period": [5]}), "gpu")
