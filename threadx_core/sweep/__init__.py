"""Parameter sweeps (DESIGN.md §8): grids of strategy parameters, run on CPU or GPU."""

from threadx_core.sweep.grid import REFERENCE, Grid

__all__ = ["REFERENCE", "Grid"]
