"""The leaderboard: every symbol × sweep timeframe side by side, one row each, ranked.

It answers docs/ARCHITECTURE.md §1's question in one table: for each symbol and timeframe, the
walk-forward's current selection (the latest step's choice, :mod:`threadx_core.research.walk_forward`)
and how far to trust it. Inputs are what the per-symbol reports store, nothing is re-run:

- ``walk_forward[symbol]``: the stored ``walk_forward`` frame (the steps of every timeframe, with
  a ``timeframe`` column), ``None`` when the symbol's report was never materialised;
- ``documents[(symbol, tf)]``: the walk-forward's ``<tf>_selection.json`` export (``selection``,
  ``statistics``, ``bootstrap``), parsed;
- ``full_period[symbol]``: the stored ``full_period`` frame, or ``None``.

Columns (:data:`COLUMNS`): ``rank``; ``symbol``, ``timeframe``; ``reason`` (empty for a ranked row,
else why there is no walk-forward report: the row stays, never silently dropped); ``selection``
(``1h bb20×2 atr14w×1.5``, ``cash`` when the latest step chose nothing) and its ``Params`` columns;
``oos_return``, ``oos_sharpe`` (the chained out-of-sample account, daily Sharpe √365);
``deflated_sharpe``; ``pbo``; ``oos_sharpe_low``/``oos_sharpe_high`` (the stationary-bootstrap
interval **of the out-of-sample Sharpe**, 5 %–95 %); ``stability``; ``first_month``/``last_month``
(the first in-sample month and the last out-of-sample month of the walk-forward), ``oos_months``
(out-of-sample months), ``months`` (distinct months any step read); and the selection's
``full_period_*`` figures (``first``, ``last``, ``return``, ``sharpe``, ``max_drawdown``,
``trades``) over the latest full-period chain, empty when ``full_period`` is not stored or does not
hold that combination.

**Parameter stability** = the share of out-of-sample months whose chosen combination is the latest
selection's (1 = the same choice every month; a cash month never matches).

**Ranking**: by deflated Sharpe, then out-of-sample Sharpe, both descending, NaN last, then symbol
and timeframe (deterministic); the rows without a report follow, unranked (``rank`` empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from threadx_core import times
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.research.featured import row_params, run_label

#: The full-period figures of the selection: leaderboard column → ``full_period`` column.
FULL_PERIOD = {"full_period_first": "first", "full_period_last": "last", "full_period_return": "total_return",
               "full_period_sharpe": "sharpe", "full_period_max_drawdown": "max_drawdown",
               "full_period_trades": "n_trades"}
COLUMNS = ("rank", "symbol", "timeframe", "reason", "selection", *PARAM_NAMES, "oos_return", "oos_sharpe",
           "deflated_sharpe", "pbo", "oos_sharpe_low", "oos_sharpe_high", "stability", "first_month",
           "last_month", "oos_months", "months", *FULL_PERIOD)


def leaderboard(symbols: Sequence[str], timeframes: Sequence[str],
                walk_forward: Mapping[str, pd.DataFrame | None],
                documents: Mapping[tuple[str, str], Mapping],
                full_period: Mapping[str, pd.DataFrame | None], *, in_sample_months: int) -> pd.DataFrame:
    """One row per ``symbols`` × ``timeframes`` (see the module docstring), ranked.
    ``in_sample_months`` only words the reason of a timeframe without a report."""
    rows = [_row(symbol, tf, walk_forward.get(symbol), documents.get((symbol, tf)),
                 full_period.get(symbol), in_sample_months)
            for symbol in symbols for tf in timeframes]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"])
    ranked = frame["reason"] == ""
    order = frame[ranked].sort_values(["deflated_sharpe", "oos_sharpe", "symbol", "timeframe"],
                                      ascending=[False, False, True, True], na_position="last", kind="stable")
    frame = pd.concat([order, frame[~ranked]], ignore_index=True)
    frame.insert(0, "rank", pd.array([i + 1 if i < len(order) else pd.NA for i in range(len(frame))],
                                     dtype="Int64"))
    return frame


def stability(steps: pd.DataFrame) -> float:
    """Share of ``steps`` (walk-forward rows of one timeframe) whose ``combo`` is the last row's;
    NaN without a step or when the last step stayed in cash (``combo`` −1)."""
    if steps.empty or int(steps["combo"].iloc[-1]) < 0:
        return float("nan")
    return float((steps["combo"] == steps["combo"].iloc[-1]).mean())


def _row(symbol: str, tf: str, walk: pd.DataFrame | None, document: Mapping | None,
         full_period: pd.DataFrame | None, in_sample_months: int) -> dict[str, object]:
    row: dict[str, object] = {"symbol": symbol, "timeframe": tf}
    if walk is None:
        return {**row, "reason": f"walk_forward of {symbol} not materialised"}
    steps = walk[walk["timeframe"] == tf]
    if steps.empty:
        return {**row, "reason": f"no {tf} walk-forward: no chain of more than in_sample_months = "
                                 f"{in_sample_months} consecutive traded months stored"}
    if document is None:
        return {**row, "reason": f"{tf}_selection.json of {symbol} missing: re-materialise walk_forward"}
    selection, statistics = document["selection"], document["statistics"]
    sharpe_interval = document["bootstrap"].get("sharpe", {})
    cash = int(selection["combo"]) < 0
    covered = {m for first, last in zip(steps["in_sample_first"], steps["out_of_sample"], strict=True)
               for m in times.month_span(first, last)}
    row.update({
        "reason": "", "selection": "cash" if cash else run_label(row_params(selection), tf),
        **{name: selection[name] for name in PARAM_NAMES},
        "oos_return": _number(statistics.get("out_of_sample_total_return")),
        "oos_sharpe": _number(statistics.get("out_of_sample_sharpe")),
        "deflated_sharpe": _number(statistics.get("deflated_sharpe")), "pbo": _number(statistics.get("pbo")),
        "oos_sharpe_low": _number(sharpe_interval.get("low")),
        "oos_sharpe_high": _number(sharpe_interval.get("high")),
        "stability": stability(steps), "first_month": steps["in_sample_first"].min(),
        "last_month": steps["out_of_sample"].max(), "oos_months": len(steps), "months": len(covered)})
    if not cash and full_period is not None:
        row.update(_full_period(full_period, tf, selection))
    return row


def _full_period(frame: pd.DataFrame, tf: str, selection: Mapping) -> dict[str, object]:
    """The selection's figures in the latest chain of ``frame`` (the stored ``full_period``), or
    nothing when that chain does not hold the combination."""
    rows = frame[frame["timeframe"] == tf]
    if rows.empty:
        return {}
    rows = rows[rows["last"] == rows["last"].max()]
    for name in PARAM_NAMES:
        rows = rows[rows[name] == selection[name]]
    if rows.empty:
        return {}
    match = rows.iloc[0]
    return {column: match[source] for column, source in FULL_PERIOD.items()}


def _number(value: object) -> float:
    """A statistic of the JSON export as a float (``null`` — not computable — as NaN)."""
    return float("nan") if value is None else float(value)

