"""Trade metrics from trade totals, one function per metric (docs/ARCHITECTURE.md, Metrics).

Inputs are totals over the closed trades of each run (arrays or scalars, broadcast together; the
result is an array): counts of trades, wins
(pnl > 0) and losses (pnl < 0) — a trade with pnl exactly 0 is neither —, gross win Σ pnl⁺ ≥ 0,
gross loss Σ pnl⁻ ≤ 0, net pnl. Degenerate cases, one rule each (the streaming accumulators of
:mod:`threadx_core.metrics.nb` follow the same rules): no trade → win_rate, expectancy NaN; no win
→ avg_win NaN; no loss → avg_loss NaN; profit_factor +inf with wins and no loss, 0.0 with losses
and no win, NaN with neither.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def win_rate(wins: ArrayLike, n: ArrayLike) -> np.ndarray:
    """wins / n_trades; NaN with no trade."""
    wins, n = np.asarray(wins), np.asarray(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, wins / n, np.nan)


def profit_factor(gross_win: ArrayLike, gross_loss: ArrayLike) -> np.ndarray:
    """Σ wins / |Σ losses|; +inf with wins and no loss, 0.0 with losses and no win, NaN with
    neither."""
    gross_win, gross_loss = np.asarray(gross_win), np.asarray(gross_loss)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = gross_win / np.abs(gross_loss)
    return np.where(gross_loss < 0.0, ratio, np.where(gross_win > 0.0, np.inf, np.nan))


def per_trade(amount: ArrayLike, count: ArrayLike) -> np.ndarray:
    """amount/count: expectancy (Σ pnl / n_trades), avg_win (gross win / wins), avg_loss (gross
    loss / losses); NaN when the count is 0."""
    amount, count = np.asarray(amount), np.asarray(count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, amount / count, np.nan)
