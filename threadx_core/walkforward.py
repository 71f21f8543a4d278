"""Walk-forward selection over monthly sweep partitions (issue 5): choose in sample, judge out of
sample, month after month.

For every month m with at least ``in_sample_months`` = k months before it, the combination ranked
first by :func:`selection.rank` (objective, ``min_trades``, ties as documented there) on the
in-sample window [m − k, m) aggregated by :func:`aggregate.chain` is traded in month m, with that
month's stored daily returns. The out-of-sample months are chained into one daily-return series
(one compounding account that switches combination at each month start — possible without
re-running because every month is its own window, positions closed at month end).

In-sample and out-of-sample objectives are both computed by :mod:`threadx_core.aggregate` (the
out-of-sample one on month m alone), so they are comparable: daily-based for sharpe, sortino,
volatility, max_drawdown and its duration, cagr; trade metrics as stored. When no combination
passes the filter in sample, the step stays in cash: ``combo`` −1, no parameters, zero daily
returns, NaN objectives.

Everything is deterministic: the same partitions and arguments give the same steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from threadx_core import aggregate, selection
from threadx_core.sweep import partition


class WalkForward(NamedTuple):
    """``steps``: one row per out-of-sample month (see :func:`walk_forward`); ``daily_returns``:
    the chained out-of-sample daily returns (index: UTC days); ``summary``: the degradation
    figures (see :func:`degradation`)."""

    steps: pd.DataFrame
    daily_returns: pd.Series
    summary: dict[str, float]


def walk_forward(partitions: Mapping[str, pd.DataFrame], in_sample_months: int,
                 objective: str = "sharpe", *, min_trades: int = 1) -> WalkForward:
    """Walk forward over ``partitions`` (month label → sweep partition of one symbol and timeframe,
    consecutive months, one grid: see :func:`aggregate.align`, whose errors it raises).

    ``steps`` columns: ``in_sample_first``, ``in_sample_last``, ``out_of_sample`` (month labels),
    ``combo`` (row of the chosen combination in the first month's grid order, −1 for cash), the
    ``Params`` columns of the choice, ``in_sample_objective``, ``out_of_sample_objective``,
    ``in_sample_return`` (total return of the window), ``out_of_sample_return`` (of month m),
    ``out_of_sample_trades``. Raises ``ValueError`` when ``in_sample_months`` < 1, when there are
    not more months than ``in_sample_months``, or for an objective :func:`selection.rank` rejects.
    """
    if in_sample_months < 1:
        raise ValueError(f"in_sample_months must be ≥ 1, got {in_sample_months!r}")
    aligned = aggregate.align(partitions)
    labels = list(aligned)
    if len(labels) <= in_sample_months:
        raise ValueError(f"walk-forward needs more than in_sample_months={in_sample_months} months, "
                         f"got {len(labels)}")
    rows, returns = [], []
    for m in range(in_sample_months, len(labels)):
        window = [aligned[label] for label in labels[m - in_sample_months:m]]
        row, daily = _step(window, aligned[labels[m]], objective, min_trades)
        rows.append({"in_sample_first": labels[m - in_sample_months], "in_sample_last": labels[m - 1],
                     "out_of_sample": labels[m], **row})
        returns.append(daily)
    steps = pd.DataFrame(rows)
    daily_returns = pd.concat(returns).rename("daily_return")
    return WalkForward(steps, daily_returns, degradation(steps, daily_returns, in_sample_months))


def _step(window: list[pd.DataFrame], month: pd.DataFrame, objective: str,
          min_trades: int) -> tuple[dict[str, object], pd.Series]:
    """One step: the choice on ``window`` and its evaluation on ``month``."""
    in_sample = aggregate.chain(window)
    ranked = selection.rank(in_sample.assign(combo=np.arange(len(in_sample))), objective,
                            min_trades=min_trades)
    daily = partition.daily_returns(month)
    if ranked.empty:
        cash = dict.fromkeys(aggregate.PARAM_COLUMNS, None)
        return ({"combo": -1, **cash, "in_sample_objective": np.nan, "out_of_sample_objective": np.nan,
                 "in_sample_return": np.nan, "out_of_sample_return": 0.0, "out_of_sample_trades": 0},
                pd.Series(0.0, index=daily.index))
    best = ranked.iloc[0]
    combo = int(best["combo"])
    out_of_sample = aggregate.chain([month]).iloc[combo]
    return ({"combo": combo, **{c: best[c] for c in aggregate.PARAM_COLUMNS},
             "in_sample_objective": float(best[objective]),
             "out_of_sample_objective": float(out_of_sample[objective]),
             "in_sample_return": float(best["total_return"]),
             "out_of_sample_return": float(out_of_sample["total_return"]),
             "out_of_sample_trades": int(out_of_sample["n_trades"])},
            daily.iloc[:, combo])


def degradation(steps: pd.DataFrame, daily_returns: pd.Series, in_sample_months: int) -> dict[str, float]:
    """In-sample vs out-of-sample figures of a walk-forward:

    * ``in_sample_objective_mean``, ``out_of_sample_objective_mean``: means over the steps that
      chose a combination; ``objective_ratio`` = OOS mean / IS mean (1 = no degradation; read it
      for a positive IS mean; NaN when the IS mean is 0 or no step chose);
    * ``in_sample_monthly_return`` = mean over steps of (1 + IS window return)^(1/k) − 1 (the IS
      windows overlap, so their returns are compared per month), ``out_of_sample_monthly_return``
      = (1 + OOS total return)^(1/steps) − 1, ``return_ratio`` = OOS / IS monthly return;
    * ``out_of_sample_total_return``, ``out_of_sample_sharpe`` (daily, √365),
      ``out_of_sample_max_drawdown`` of the chained out-of-sample account.
    """
    chosen = steps[steps["combo"] >= 0]
    is_mean = float(chosen["in_sample_objective"].mean()) if len(chosen) else np.nan
    oos_mean = float(chosen["out_of_sample_objective"].mean()) if len(chosen) else np.nan
    r = daily_returns.to_numpy(np.float64)
    total = float(aggregate.total_return(r))
    is_monthly = float(((1.0 + chosen["in_sample_return"]) ** (1.0 / in_sample_months) - 1.0).mean())
    oos_monthly = (1.0 + total) ** (1.0 / len(steps)) - 1.0 if total > -1.0 else -1.0
    return {"steps": float(len(steps)), "in_sample_objective_mean": is_mean,
            "out_of_sample_objective_mean": oos_mean, "objective_ratio": _divide(oos_mean, is_mean),
            "in_sample_monthly_return": is_monthly, "out_of_sample_monthly_return": oos_monthly,
            "return_ratio": _divide(oos_monthly, is_monthly), "out_of_sample_total_return": total,
            "out_of_sample_sharpe": float(aggregate.sharpe(r)),
            "out_of_sample_max_drawdown": float(aggregate.max_drawdown(r))}


def _divide(num: float, den: float) -> float:
    """num/den, NaN when den is 0 or NaN."""
    return num / den if den and not np.isnan(den) else np.nan
