"""The reference backtest engine (docs/ARCHITECTURE.md, Strategy): :class:`Params`, :func:`backtest` →
:class:`Result`.

The compiled state machine lives in :mod:`threadx_core.engine.nb`; sweep kernels reuse
its step functions.
"""

from threadx_core.engine.backtest import Result, backtest, simulate
from threadx_core.engine.params import Params

__all__ = ["Params", "Result", "backtest", "simulate"]
