"""Every CUDA kernel against the CPU kernel on random markets × random grids, by the contract of
:mod:`threadx_core.sweep.parity` (trade counts exactly, every metric to 1e-9 relative).

These tests need a CUDA device: a real GPU (``scripts/gpu_check.sh`` runs them there), or Numba's
CUDA simulator when ``NUMBA_ENABLE_CUDASIM=1`` is set before the test process starts
(``test_cuda_sim.py`` runs this file so, on few small examples, in every test run). Anywhere else
they skip: no GPU can be installed on a machine without one.

``THREADX_GPU_EXAMPLES`` sets the examples per property (default 40 on a GPU, 12 on the
simulator, which runs each thread in Python: markets and grids are drawn smaller there).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.engine.kit import windows
from tests.core.sweep.kit import base_params, grid_axes
from threadx_core.engine import carry
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.sweep import Grid, build, cpu, parity
from threadx_core.sweep.devices import available_gpus
from threadx_core.sweep.layout import Layout
from threadx_core.testing.candles import fat_tailed_walk, random_walk_ohlcv

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
if not available_gpus():
    pytest.skip("needs a CUDA GPU (scripts/gpu_check.sh on one) or NUMBA_ENABLE_CUDASIM=1",
                allow_module_level=True)

from threadx_core.sweep import cuda  # noqa: E402 -- only where numba.cuda has a device

EXAMPLES = int(os.environ.get("THREADX_GPU_EXAMPLES", "12" if SIMULATED else "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=SIMULATED)
#: Largest market (bars) and values per grid axis drawn.
MAX_BARS, MAX_VALUES = (120, 2) if SIMULATED else (6_000, 4)
TRADES = OUTPUT_KEYS.index("n_trades")
#: (kernel, max_registers, time-major matrices): every kernel on both matrix layouts, one squeezed
#: to 64 registers (spilling to local memory).
VARIANTS = [("plain", None, False), ("jump", None, False), ("plain", None, True), ("jump", 64, True)]

markets = st.one_of(
    st.builds(fat_tailed_walk, st.integers(30, MAX_BARS), st.integers(0, 2**32 - 1),
              st.sampled_from([1, 15, 30, 240])),
    st.builds(random_walk_ohlcv, st.integers(30, MAX_BARS), st.integers(0, 2**32 - 1)),
)


def on_gpu(layout: Layout, variant: tuple[str, int | None, bool], start: int,
           stop: int) -> tuple[np.ndarray, ...]:
    name, registers, time_major = variant
    return cuda.GpuSweep(layout, 0, name, max_registers=registers,
                         time_major=time_major).run(start, stop)


def assert_agree(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...], what: str) -> None:
    problem = parity.disagreement(got, want)
    assert problem is None, f"{what}: {problem}"


@SETTINGS
@given(markets, base_params, grid_axes(MAX_VALUES), st.floats(0.0, 0.5), st.data())
def test_every_kernel_matches_the_cpu_kernel(frame: pd.DataFrame, base, axes, warm: float,
                                             data: st.DataObject) -> None:
    grid = Grid(axes, base)
    layout = build(frame, grid, warmup_bars=int(warm * (len(frame) - 1)))
    want = cpu.run_chunk(layout, 0, len(grid))
    start = data.draw(st.integers(0, len(grid) - 1), label="first combination of a sub-range")
    stop = data.draw(st.integers(start + 1, len(grid)), label="its end")
    for variant in VARIANTS:
        what = f"{variant}, {len(grid)} combinations × {layout.n_bars} bars"
        assert_agree(on_gpu(layout, variant, 0, len(grid)), want, what)
        part = on_gpu(layout, variant, start, stop)
        assert_agree(part, tuple(a[start:stop] for a in want), f"{what}, rows [{start}, {stop})")


@SETTINGS
@given(markets, base_params, grid_axes(MAX_VALUES),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3))
def test_every_kernel_continues_carried_state_like_the_cpu_kernel(frame: pd.DataFrame, base, axes,
                                                                  cuts: list[float]) -> None:
    """Windows chained through carried end states (a position or an order left open at a
    window's end continues in the next): each window agrees with the CPU's."""
    grid = Grid(axes, base)
    parts = windows(len(frame), cuts)
    minutes = (frame.index[1] - frame.index[0]).total_seconds() / 60
    for variant in VARIANTS:
        states: dict[str, pd.DataFrame | None] = {"cpu": None, "gpu": None}
        for a, b in parts:
            rows = {}
            for where, state in states.items():
                layout = build(frame.iloc[:b], grid, bar_minutes=minutes, warmup_bars=a,
                               start=state, close_at_end=b == len(frame))
                rows[where] = (cpu.run_chunk(layout, 0, len(grid)) if where == "cpu"
                               else on_gpu(layout, variant, 0, len(grid)))
                end = rows[where][2].copy()
                carry.fill_entry_times(end, layout.times)
                states[where] = carry.to_frame(end)
            assert_agree(rows["gpu"], rows["cpu"], f"{variant}, window [{a}, {b}) of {len(frame)} bars")


def test_a_grid_of_many_blocks_matches_on_every_row() -> None:
    """More combinations than one block holds, one per thread across blocks: every row is the
    CPU's (a wrong thread index or a short grid of blocks shows here)."""
    bars, block, grid = (90, 32, Grid({"bb_period": [4, 9], "bb_std": [0.8, 1.4],
                                       "atr_period": [3, 5], "atr_mult": [1.0, 2.0, 3.0],
                                       "fill": ["next_open", "close"]})) if SIMULATED else (
        3 * 1440, cuda.BLOCK, Grid({"bb_period": [10, 20, 30, 40], "bb_std": [1.0, 1.5, 2.0, 2.5, 3.0],
                                    "atr_period": [7, 14, 21], "atr_mult": [1.0, 1.5, 2.0, 3.0],
                                    "fill": ["next_open", "close"], "allow_short": [False, True],
                                    "trailing": [False, True]}))
    assert len(grid) > block
    layout = build(random_walk_ohlcv(bars, seed=5), grid)
    want = cpu.run_chunk(layout, 0, len(grid))
    assert want[0][:, TRADES].sum() > 0
    for name, registers, time_major in VARIANTS:
        got = cuda.GpuSweep(layout, 0, name, max_registers=registers, block=block,
                            time_major=time_major).run(0, len(grid))
        assert_agree(got, want, f"{name, registers, time_major}, {block} threads a block")
