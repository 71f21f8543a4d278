"""One symbol-timeframe's decision report: walk-forward selection and how far to trust it.

Inputs are the monthly sweep partitions (month → partition of one grid). Out of the box:
- the walk-forward (``walkforward.walk_forward``): best on k months in sample, judged on the next;
- the deflated Sharpe ratio of the chained out-of-sample returns against every combination's
  returns over the same months (the trials), discounting the number of trials;
- the probability of backtest overfitting (CSCV) on the months × combinations matrix of monthly
  total returns, with S = the largest even number ≤ min(``pbo_groups``, months);
- stationary-bootstrap confidence intervals of the out-of-sample Sharpe, total return and
  max drawdown;
- charts: out-of-sample equity + drawdown, the chosen parameters month after month, and the
  latest selection's equity + drawdown over its in-sample window then its out-of-sample month
  (from the stored daily returns, see :func:`selection_curves`).
A statistic that the data cannot support (too few months, no trade) is NaN with a ``notes`` entry
saying why, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from threadx_core import aggregate, overfitting
from threadx_core.plots import equity_drawdown_png, stability_png
from threadx_core.report import row_params, run_label
from threadx_core.sweep import partition
from threadx_core.walkforward import WalkForward, walk_forward


@dataclass(frozen=True)
class DecisionReport:
    """The walk-forward, its trust statistics, bootstrap ``intervals`` and PNG ``charts``."""

    walk: WalkForward
    deflated_sharpe: float
    pbo: float
    intervals: pd.DataFrame
    charts: dict[str, bytes]
    notes: list[str] = field(default_factory=list)


def decide(partitions: Mapping[str, pd.DataFrame], *, in_sample_months: int, objective: str,
           min_trades: int, pbo_groups: int, seed: int, title: str) -> DecisionReport:
    """The decision report of ``partitions``; raises ``ValueError`` (from the walk-forward) when
    there are not more months than ``in_sample_months`` or the grids differ between months."""
    walk = walk_forward(partitions, in_sample_months, objective, min_trades=min_trades)
    aligned = aggregate.align(partitions)
    oos_months = list(walk.steps["out_of_sample"])
    notes: list[str] = []
    dsr = _deflated_sharpe(walk, [aligned[m] for m in oos_months], notes)
    pbo = _pbo(aligned, pbo_groups, notes)
    intervals = _intervals(walk, seed, notes)
    equity = (1.0 + walk.daily_returns).cumprod()
    charts = {"out_of_sample_equity": equity_drawdown_png({"out of sample": equity},
                                                          f"{title}: walk-forward out of sample"),
              "parameter_stability": stability_png(walk.steps, f"{title}: chosen parameters")}
    latest = walk.steps.iloc[-1]
    curves = selection_curves(aligned, latest)
    if curves:
        label = run_label(row_params(latest), str(aligned[latest["out_of_sample"]]["timeframe"].iloc[0]))
        charts["selection_equity"] = equity_drawdown_png(curves, f"{title}: latest selection {label}")
    else:
        notes.append(f"no selection equity chart: the latest step ({latest['out_of_sample']}) stays in cash")
    return DecisionReport(walk, dsr, pbo, intervals, charts, notes)


def selection_curves(aligned: Mapping[str, pd.DataFrame], step: Mapping) -> dict[str, pd.Series]:
    """Equity (money, from the grid's ``initial_capital``) of the combination chosen at ``step`` (a
    row of ``walk.steps``; ``aligned`` as :func:`aggregate.align` returns the partitions), without
    re-running: ``"in sample <first>…<last>"`` compounds its daily returns over the in-sample
    window (:func:`aggregate.chain`, as the walk-forward ranked it; :func:`aggregate.equity_curve`),
    and ``"out of sample <month>"`` continues from that curve's end with the month's stored daily
    returns. Points sit at the end of each UTC day, the first at the start of the window. Empty for
    a cash step (``combo`` −1)."""
    combo = int(step["combo"])
    if combo < 0:
        return {}
    first, last, month = step["in_sample_first"], step["in_sample_last"], step["out_of_sample"]
    window = aggregate.chain([frame for label, frame in aligned.items() if first <= label <= last])
    capital = float(window["initial_capital"].iloc[combo])
    in_sample = _equity(window, combo, capital)
    out_of_sample = _equity(aligned[month], combo, float(in_sample.iloc[-1]))
    return {f"in sample {first}…{last}": in_sample, f"out of sample {month}": out_of_sample}


def _equity(piece: pd.DataFrame, combo: int, start: float) -> pd.Series:
    """``start`` compounded by row ``combo``'s daily returns of ``piece`` (a partition-shaped frame),
    indexed by the start of its first day, then the end of each day."""
    daily = partition.daily_returns(piece).iloc[:, combo]
    times = daily.index[:1].append(daily.index + pd.Timedelta(days=1))
    return pd.Series(start * aggregate.equity_curve(daily.to_numpy(np.float64)), index=times, name="equity")


def _deflated_sharpe(walk: WalkForward, months: list[pd.DataFrame], notes: list[str]) -> float:
    trials = pd.concat([partition.daily_returns(m.reset_index(drop=True)) for m in months]).to_numpy()
    sharpes = overfitting.per_period_sharpe(trials)
    usable = trials[:, np.isfinite(sharpes)]
    try:
        return overfitting.deflated_sharpe_of_selection(walk.daily_returns.to_numpy(), usable)
    except ValueError as exc:
        notes.append(f"deflated Sharpe not computable: {exc}")
        return float("nan")


def _pbo(aligned: dict[str, pd.DataFrame], groups: int, notes: list[str]) -> float:
    months = len(aligned)
    s = min(groups, months) // 2 * 2
    if s < 2:
        notes.append(f"PBO needs at least 2 months, got {months}")
        return float("nan")
    performance = np.vstack([m["total_return"].to_numpy(np.float64) for m in aligned.values()])
    try:
        return overfitting.probability_of_backtest_overfitting(performance, n_groups=s).pbo
    except ValueError as exc:
        notes.append(f"PBO not computable: {exc}")
        return float("nan")


def _intervals(walk: WalkForward, seed: int, notes: list[str]) -> pd.DataFrame:
    try:
        return overfitting.bootstrap_intervals(walk.daily_returns.to_numpy(), seed=seed)
    except ValueError as exc:
        notes.append(f"bootstrap not computable: {exc}")
        return pd.DataFrame(columns=["estimate", "low", "high"])
