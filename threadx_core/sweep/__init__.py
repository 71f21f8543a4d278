"""Parameter sweeps (docs/ARCHITECTURE.md, Sweeps and devices): grids of strategy parameters,
run on CPU or GPU.

``run(ohlcv, grid, device)`` → one row per combination (params + metrics);
``run_with_daily`` → also the daily returns per combination and the devices that ran.
"""

from threadx_core.sweep.grid import REFERENCE, Grid
from threadx_core.sweep.layout import Layout, build
from threadx_core.sweep.run import SweepOutput, run, run_with_daily

__all__ = ["REFERENCE", "Grid", "Layout", "SweepOutput", "build", "run", "run_with_daily"]
