"""Performance metrics (docs/ARCHITECTURE.md, Metrics), in two forms, as in empyrical and vectorbt:

* one small function per metric, formula and degenerate cases in its docstring, over returns
  (:mod:`~threadx_core.metrics.returns`: total_return, cagr, volatility, sharpe, sortino,
  max_drawdown, max_drawdown_duration, calmar) or trade totals
  (:mod:`~threadx_core.metrics.trades`: win_rate, profit_factor, per_trade) — the reference, used
  by the research layer (chained months, walk-forward, overfitting);
* the streaming Numba accumulators of :mod:`~threadx_core.metrics.nb` the sweep kernels and the
  engine run, and :func:`summarize` (:mod:`~threadx_core.metrics.summary`) over them: every metric
  of one run, in :data:`OUTPUT_KEYS` order.
"""

from threadx_core.metrics.nb import INT_KEYS, METRIC_KEYS, OUTPUT_KEYS, SHORT_WINDOW_DAYS
from threadx_core.metrics.returns import (
    cagr,
    calmar,
    equity_curve,
    max_drawdown,
    max_drawdown_duration,
    sharpe,
    simple_returns,
    sortino,
    total_return,
    volatility,
)
from threadx_core.metrics.summary import summarize
from threadx_core.metrics.trades import per_trade, profit_factor, win_rate

__all__ = [
    "INT_KEYS", "METRIC_KEYS", "OUTPUT_KEYS", "SHORT_WINDOW_DAYS", "cagr", "calmar", "equity_curve",
    "max_drawdown", "max_drawdown_duration", "per_trade", "profit_factor", "sharpe", "simple_returns",
    "sortino", "summarize", "total_return", "volatility", "win_rate",
]
