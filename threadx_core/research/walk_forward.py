"""Walk-forward selection over monthly sweep partitions: choose in sample, judge out of
sample, month after month.

For every month m with at least ``in_sample_months`` = k months before it in its chain (a run of
consecutive chainable months: a hole, a month not stored or empty, ends one chain and starts
another; :mod:`threadx_core.research.months`), the combination ranked first by
:func:`selection.rank` (objective, ``min_trades``, ties as documented there) on the in-sample
window [m − k, m) aggregated by :func:`chain.chain` is traded in month m, with that month's stored
daily returns. Month m is an evaluated window of the chosen combination's continuing run (its
sweep row started from the state that run was in at the end of m − 1, :mod:`threadx_core.sweep.chained`),
closed at its end: a position still open at the last close of m is closed there, exit "end"
(:func:`chain.chain` with ``close_at_end``). The out-of-sample months are chained into one
daily-return series, in cash through the holes (one compounding account that switches combination
at each month start — possible without re-running because each month's window is stored).

In-sample and out-of-sample objectives are both computed by :mod:`threadx_core.research.chain` (the
out-of-sample one on month m alone, closed at its end), so they are comparable: daily-based for
sharpe, sortino, volatility, max_drawdown and its duration, cagr; trade metrics as stored. When no combination
passes the filter in sample, the step stays in cash: ``combo`` −1, no parameters, zero daily
returns, NaN objectives.

Everything is deterministic: the same partitions and arguments give the same steps.

The decision report (:func:`decide`) adds how far to trust the walk-forward:

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

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from threadx_core import metrics, times
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.present.plots import equity_drawdown_png, stability_png
from threadx_core.present.price import price_png
from threadx_core.present.tables import json_ready
from threadx_core.research import chain, months, overfitting, selection
from threadx_core.research.featured import cached_backtest, row_params, run_label
from threadx_core.sweep import chained, stored


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
    one grid: see :func:`chain.align`, whose errors it raises), chain by chain: a hole (a month not
    stored, or empty: :mod:`threadx_core.research.months`) ends one chain and starts another, and
    no in-sample window spans one. The out-of-sample months of every chain are chained into one
    account, in cash (no return, no day) through the holes.

    ``steps`` columns: ``in_sample_first``, ``in_sample_last``, ``out_of_sample`` (month labels),
    ``combo`` (row of the chosen combination in the first month's grid order, −1 for cash), the
    ``Params`` columns of the choice, ``in_sample_objective``, ``out_of_sample_objective``,
    ``in_sample_return`` (total return of the window), ``out_of_sample_return`` (of month m),
    ``out_of_sample_trades``. Raises ``ValueError`` when ``in_sample_months`` < 1, when no chain has
    more months than ``in_sample_months``, or for an objective :func:`selection.rank` rejects.
    """
    if in_sample_months < 1:
        raise ValueError(f"in_sample_months must be ≥ 1, got {in_sample_months!r}")
    split = months.chains_of(partitions)
    if split.longest <= in_sample_months:
        raise ValueError(f"walk-forward needs more than in_sample_months={in_sample_months} consecutive "
                         f"months, got {split.longest} (chains: "
                         f"{', '.join(f'{c[0]}..{c[-1]}' for c in split.chains) or 'none'})")
    aligned = _aligned(partitions, split)
    rows, returns = [], []
    for labels in split.chains:
        for m in range(in_sample_months, len(labels)):
            window = [aligned[label] for label in labels[m - in_sample_months:m]]
            row, daily = _step(window, aligned[labels[m]], objective, min_trades)
            rows.append({"in_sample_first": labels[m - in_sample_months], "in_sample_last": labels[m - 1],
                         "out_of_sample": labels[m], **row})
            returns.append(daily)
    steps = pd.DataFrame(rows)
    daily_returns = pd.concat(returns).rename("daily_return")
    return WalkForward(steps, daily_returns, degradation(steps, daily_returns, in_sample_months))


def _aligned(partitions: Mapping[str, pd.DataFrame], split: months.MonthChains) -> dict[str, pd.DataFrame]:
    """The chainable months of ``partitions`` (those of ``split.chains``) through :func:`chain.align`,
    holes allowed between them."""
    by_label = {times.month_label(times.parse_month(key)): frame for key, frame in partitions.items()}
    return chain.align({m: by_label[m] for run in split.chains for m in run}, consecutive=False)


def _step(window: list[pd.DataFrame], month: pd.DataFrame, objective: str,
          min_trades: int) -> tuple[dict[str, object], pd.Series]:
    """One step: the choice on ``window`` and its evaluation on ``month``."""
    in_sample = chain.chain(window)
    ranked = selection.rank(in_sample.assign(combo=np.arange(len(in_sample))), objective,
                            min_trades=min_trades)
    daily = stored.daily_returns(month)
    if ranked.empty:
        cash = dict.fromkeys(PARAM_NAMES, None)
        return ({"combo": -1, **cash, "in_sample_objective": np.nan, "out_of_sample_objective": np.nan,
                 "in_sample_return": np.nan, "out_of_sample_return": 0.0, "out_of_sample_trades": 0},
                pd.Series(0.0, index=daily.index))
    best = ranked.iloc[0]
    combo = int(best["combo"])
    # the out-of-sample month is an evaluated window: a position still open at its end closes there
    out_of_sample = chain.chain([month], close_at_end=True).iloc[combo]
    return ({"combo": combo, **{c: best[c] for c in PARAM_NAMES},
             "in_sample_objective": float(best[objective]),
             "out_of_sample_objective": float(out_of_sample[objective]),
             "in_sample_return": float(best["total_return"]),
             "out_of_sample_return": float(out_of_sample["total_return"]),
             "out_of_sample_trades": int(out_of_sample["n_trades"])},
            pd.Series(out_of_sample["daily_returns"], index=daily.index))


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
    total = float(metrics.total_return(r))
    is_monthly = float(((1.0 + chosen["in_sample_return"]) ** (1.0 / in_sample_months) - 1.0).mean())
    oos_monthly = (1.0 + total) ** (1.0 / len(steps)) - 1.0 if total > -1.0 else -1.0
    return {"steps": float(len(steps)), "in_sample_objective_mean": is_mean,
            "out_of_sample_objective_mean": oos_mean, "objective_ratio": _divide(oos_mean, is_mean),
            "in_sample_monthly_return": is_monthly, "out_of_sample_monthly_return": oos_monthly,
            "return_ratio": _divide(oos_monthly, is_monthly), "out_of_sample_total_return": total,
            "out_of_sample_sharpe": float(metrics.sharpe(r, chain.DAYS_PER_YEAR)),
            "out_of_sample_max_drawdown": float(metrics.max_drawdown(r))}


def _divide(num: float, den: float) -> float:
    """num/den, NaN when den is 0 or NaN."""
    return num / den if den and not np.isnan(den) else np.nan


@dataclass(frozen=True)
class DecisionReport:
    """The walk-forward, its trust statistics, bootstrap ``intervals`` and PNG ``charts``."""

    walk: WalkForward
    deflated_sharpe: float
    pbo: float
    intervals: pd.DataFrame
    charts: dict[str, bytes]
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, float]:
        """The degradation figures of the walk-forward with the deflated Sharpe ratio and the PBO."""
        return {**self.walk.summary, "deflated_sharpe": self.deflated_sharpe, "pbo": self.pbo}

    def files(self, tf: str) -> dict[str, bytes]:
        """The exports of timeframe ``tf`` by name, every one starting with ``<tf>_``: the charts
        (PNG), the steps (CSV) and the latest selection with the summary, the bootstrap intervals
        and the notes (strict JSON: non-finite numbers are ``null``)."""
        document = {"timeframe": tf, "selection": self.walk.steps.iloc[-1].to_dict(),
                    "statistics": self.summary, "bootstrap": self.intervals.to_dict(orient="index"),
                    "notes": self.notes}
        return {
            **{f"{tf}_{name}.png": png for name, png in self.charts.items()},
            f"{tf}_walk_forward.csv": self.walk.steps.to_csv(index=False).encode(),
            f"{tf}_selection.json": json.dumps(json_ready(document), indent=2, allow_nan=False).encode()}


def decide(partitions: Mapping[str, pd.DataFrame], *, in_sample_months: int, objective: str,
           min_trades: int, pbo_groups: int, seed: int, title: str) -> DecisionReport:
    """The decision report of ``partitions``; raises ``ValueError`` (from the walk-forward) when
    no chain has more months than ``in_sample_months`` or the grids differ between months. The
    holes that split the months into chains are the first note (naming the months; the caller
    names the symbol); the trust statistics are computed over the chainable months."""
    walk = walk_forward(partitions, in_sample_months, objective, min_trades=min_trades)
    split = months.chains_of(partitions)
    aligned = _aligned(partitions, split)
    oos_months = list(walk.steps["out_of_sample"])
    notes: list[str] = [] if (holes := split.warning(None)) is None else [holes]
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
    row of ``walk.steps``; ``aligned`` as :func:`chain.align` returns the partitions), without
    re-running: ``"in sample <first>…<last>"`` compounds its daily returns over the in-sample
    window (:func:`chain.chain`, as the walk-forward ranked it; :func:`metrics.equity_curve`),
    and ``"out of sample <month>"`` continues from that curve's end with the month's stored daily
    returns. Points sit at the end of each UTC day, the first at the start of the window. Empty for
    a cash step (``combo`` −1)."""
    combo = int(step["combo"])
    if combo < 0:
        return {}
    first, last, month = step["in_sample_first"], step["in_sample_last"], step["out_of_sample"]
    window = chain.chain([frame for label, frame in aligned.items() if first <= label <= last])
    capital = float(window["initial_capital"].iloc[combo])
    in_sample = _equity(window, combo, capital)
    out_of_sample = _equity(aligned[month], combo, float(in_sample.iloc[-1]))
    return {f"in sample {first}…{last}": in_sample, f"out of sample {month}": out_of_sample}


def _equity(piece: pd.DataFrame, combo: int, start: float) -> pd.Series:
    """``start`` compounded by row ``combo``'s daily returns of ``piece`` (a partition-shaped frame),
    indexed by the start of its first day, then the end of each day."""
    daily = stored.daily_returns(piece).iloc[:, combo]
    times = daily.index[:1].append(daily.index + pd.Timedelta(days=1))
    return pd.Series(start * metrics.equity_curve(daily.to_numpy(np.float64)), index=times, name="equity")


def _deflated_sharpe(walk: WalkForward, months: list[pd.DataFrame], notes: list[str]) -> float:
    trials = pd.concat([stored.daily_returns(m.reset_index(drop=True)) for m in months]).to_numpy()
    sharpes = metrics.sharpe(trials, 1.0)
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


def out_of_sample_price_png(step: Mapping, month: pd.DataFrame, previous: pd.DataFrame | None,
                            bars: pd.DataFrame, cache: pd.DataFrame, tf: str, title: str) -> bytes | None:
    """The price chart of the combination chosen at ``step`` (a row of ``walk.steps``) on its
    out-of-sample month: re-run by the reference engine on that month's ``bars`` and indicator
    ``cache``, from the state the month's sweep partition ``month`` started it from (found in
    ``previous``, the partition of the month before: :func:`chained.start_of`), closed at the
    month's end (an out-of-sample month ends an evaluated window). ``None`` for a cash step
    (``combo`` −1) or a month without bars. Raises ``ValueError`` naming ``title`` and the month
    when the previous month is not the one the sweep continued."""
    if int(step["combo"]) < 0 or bars.empty:
        return None
    params = row_params(step)
    try:
        start = chained.start_of(month, previous, step)
    except ValueError as exc:
        raise ValueError(f"{title} {step['out_of_sample']}: cannot re-run the selection: {exc}") from None
    result = cached_backtest(bars, cache, params, start=start, close_at_end=True)
    return price_png(bars, result, f"{title} {step['out_of_sample']} out of sample: {run_label(params, tf)}")
