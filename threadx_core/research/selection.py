"""Choosing among sweep results (docs/ARCHITECTURE.md, Selection and research): ranking,
the Pareto front and the best rows of a set.

Ranking keeps rows with at least ``min_trades`` trades and a finite objective, orders them by
the objective in its direction (every metric is "higher is better" except those in ``LOWER_IS_BETTER``;
``max_drawdown`` is ≤ 0, so closer to 0 — higher — is better), then breaks ties by total return,
Sharpe, max drawdown and profit factor (each in its direction), and finally by grid order, so
the ranking is total and reproducible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from threadx_core.metrics import METRIC_KEYS

LOWER_IS_BETTER = frozenset({"volatility", "max_drawdown_duration", "fees_paid", "turnover"})
TIE_BREAKS = ("total_return", "sharpe", "max_drawdown", "profit_factor")
OBJECTIVES = tuple(k for k in METRIC_KEYS if k not in {"n_trades", "final_equity"})


def rank(results: pd.DataFrame, objective: str = "sharpe", *, min_trades: int = 1) -> pd.DataFrame:
    """``results`` filtered and sorted best first, with a 1-based ``rank`` column.

    Raises ``ValueError`` naming ``objective`` if it is not a rankable metric. NaN objectives
    (e.g. no trade, or a one-bar window) are left out; ±inf sorts as a value (a profit factor of
    +inf — no losing trade — is the best profit factor).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not one of {OBJECTIVES}")
    kept = results[(results["n_trades"] >= min_trades) & results[objective].notna()]
    keys = [objective, *(k for k in TIE_BREAKS if k != objective)]
    ascending = [k in LOWER_IS_BETTER for k in keys]
    ordered = kept.assign(_order=np.arange(len(kept))).sort_values(
        [*keys, "_order"], ascending=[*ascending, True], na_position="last", kind="mergesort")
    return ordered.drop(columns="_order").assign(rank=np.arange(1, len(ordered) + 1)).reset_index(drop=True)


def pareto_front(results: pd.DataFrame, x: str = "max_drawdown", y: str = "total_return") -> pd.DataFrame:
    """Rows not dominated on (``x``, ``y``), both higher-is-better (drawdown closer to 0, return
    higher), sorted by ``x``; NaN rows are ignored."""
    points = results.dropna(subset=[x, y]).sort_values([x, y], ascending=[False, False], kind="mergesort")
    best, keep = -np.inf, []
    for label, value in zip(points.index, points[y].to_numpy(), strict=True):
        if value > best:
            keep.append(label)
            best = value
    return points.loc[keep].sort_values(x).reset_index(drop=True)


def best(results: pd.DataFrame, objective: str, *, min_trades: int,
         top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``top_k`` best rows by :func:`rank` and the Pareto front of all rows that pass the
    ``min_trades`` filter (total return vs max drawdown)."""
    eligible = results[results["n_trades"] >= min_trades]
    return rank(results, objective, min_trades=min_trades).head(top_k), pareto_front(eligible)
