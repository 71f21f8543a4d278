"""The result of a run at a glance: per symbol and sweep timeframe, the current selection, its
full-period metrics and its out-of-sample figures, read from the stored ``walk_forward`` and
``full_period`` frames and the walk-forward's ``<tf>_selection.json`` export (issue 15, item 3).

The selection is the walk-forward's latest (chosen on the in-sample months before the last
out-of-sample month) when a walk-forward is stored for the timeframe, else the full period's
best (ranked as ``[selection]`` ranks, in sample: no out-of-sample month backs it). Its key
metrics are those of its row in the latest chain of ``full_period`` (the whole stored range,
daily-based risk metrics).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from threadx_core import storage
from threadx_core.present.tables import PARAM_DISPLAY_COLUMNS
from threadx_core.research import selection

#: Fewer out-of-sample months than this get a caution in the table.
MIN_OOS_MONTHS = 3
#: The table's columns, in order.
COLUMNS = ("symbol", "tf", "selection", "from", "return", "sharpe", "max_dd", "trades",
           "oos_return", "oos_sharpe", "oos_months", "caution")
#: The parameter columns that tell two combinations of one timeframe apart on screen.
_PARAMS = tuple(c for c in PARAM_DISPLAY_COLUMNS if c != "timeframe")


def _stored(path: Path) -> pd.DataFrame | None:
    return storage.read_partition(path) if path.exists() else None


def _label(row: pd.Series) -> str:
    """``bb20×2 atr14×1.5``: the reference grid's axes of a combination."""
    return f"bb{row['bb_period']:g}×{row['bb_std']:g} atr{row['atr_period']:g}×{row['atr_mult']:g}"


def _match(rows: pd.DataFrame, chosen: pd.Series) -> pd.DataFrame:
    """The rows of ``rows`` with ``chosen``'s parameters (every ``_PARAMS`` column)."""
    mask = pd.Series(True, index=rows.index)
    for column in _PARAMS:
        mask &= rows[column] == chosen[column]
    return rows[mask]


def collect(root: str | Path, symbols: Iterable[str], timeframes: Iterable[str], *, objective: str,
            min_trades: int) -> pd.DataFrame:
    """One row per symbol × timeframe with the :data:`COLUMNS` (metrics as floats, NaN where not
    stored); a pair with neither a stored walk-forward nor a full period says so in ``caution``.
    Reads only; raises ``storage.CorruptPartitionError`` naming a stored frame that is unreadable."""
    rows = []
    for symbol in symbols:
        walk = _stored(storage.symbol_path(root, "walk_forward", symbol))
        full = _stored(storage.symbol_path(root, "full_period", symbol))
        reports = storage.reports_path(root, symbol)
        for tf in timeframes:
            rows.append(_row(symbol, tf, walk, full, reports / f"{tf}_selection.json",
                             objective=objective, min_trades=min_trades))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(symbol: str, tf: str, walk: pd.DataFrame | None, full: pd.DataFrame | None, statistics: Path, *,
         objective: str, min_trades: int) -> dict:
    row = dict.fromkeys(COLUMNS, math.nan) | {"symbol": symbol, "tf": tf, "selection": "-", "from": "-",
                                              "oos_months": 0, "caution": ""}
    steps = walk[walk["timeframe"] == tf] if walk is not None and len(walk) else None
    steps = steps if steps is not None and len(steps) else None
    period = None
    if full is not None and len(full):
        period = full[(full["timeframe"] == tf) & (full["last"] == full["last"].max())]
    chosen = None
    if steps is not None:
        chosen = steps.iloc[-1]
        row["from"] = f"walk-forward {chosen['out_of_sample']}"
        row["oos_months"] = len(steps)
        row["oos_return"] = float((1.0 + steps["out_of_sample_return"]).prod() - 1.0)
        if statistics.exists():
            sharpe = json.loads(statistics.read_text())["statistics"]["out_of_sample_sharpe"]
            row["oos_sharpe"] = math.nan if sharpe is None else float(sharpe)  # null: not finite
        if int(chosen["combo"]) < 0:  # the walk-forward stays in cash: no combination to show
            row["selection"] = "cash"
            chosen = None
    elif period is not None and len(period):
        ranked = selection.rank(period, objective, min_trades=min_trades)
        if len(ranked):
            chosen = ranked.iloc[0]
            row["from"] = f"full period {chosen['first']}..{chosen['last']}"
    if chosen is not None:
        row["selection"] = _label(chosen)
        matched = _match(period, chosen) if period is not None else pd.DataFrame()
        if len(matched):
            best = matched.iloc[0]
            row.update({"return": best["total_return"], "sharpe": best["sharpe"],
                        "max_dd": best["max_drawdown"], "trades": best["n_trades"]})
    if steps is None and (period is None or not len(period)):
        row["caution"] = "nothing stored yet"
    elif row["oos_months"] < MIN_OOS_MONTHS:
        row["caution"] = f"only {row['oos_months']} OOS month(s) (< {MIN_OOS_MONTHS})"
    return row


def render(table: pd.DataFrame) -> str:
    """``table`` (:func:`collect`) as aligned plain text: returns and drawdowns in %, Sharpe to
    two decimals, ``-`` where a figure is not stored."""
    def cell(column: str, value) -> str:
        if isinstance(value, float) and math.isnan(value):
            return "-"
        if column in ("return", "max_dd", "oos_return"):
            return f"{value:.2%}"
        if column in ("sharpe", "oos_sharpe"):
            return f"{value:.2f}"
        if column == "trades":
            return f"{value:.0f}"
        return str(value)

    cells = [[cell(c, v) for c, v in zip(COLUMNS, values, strict=True)]
             for values in table[list(COLUMNS)].itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
