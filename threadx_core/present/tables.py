"""Tables for people and for JSON: Markdown tables of results, JSON-ready values, and the
parameter columns that identify a combination on screen."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: The columns that name a combination in a displayed table: its timeframe and the axes of the
#: reference grid (the other parameters would only widen the table).
PARAM_DISPLAY_COLUMNS = ("timeframe", "bb_period", "bb_std", "atr_period", "atr_mult")


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON data: mappings and sequences recursively, numpy scalars as plain
    bool/int/float, non-finite floats (NaN, ±inf: e.g. a profit factor without loss) as ``None``,
    timestamps and anything else not JSON-native as ``str``."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if value is None or isinstance(value, str | bool | np.bool_):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return str(value)


def markdown_table(table: pd.DataFrame, columns: tuple[str, ...] = (
        "run", "n_trades", "total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor",
        "fees_paid", "final_equity"), label: str = "run") -> str:
    """``columns`` of ``table`` as Markdown, floats to 4 significant digits (``label`` as is)."""
    shown = table[[c for c in columns if c in table]].copy()
    for column in shown.columns.drop(label):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    rows = ("| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False))
    return header + "\n".join(rows)


def ranking_table(ranked: pd.DataFrame, objective: str, metrics: tuple[str, ...]) -> str:
    """A ranking as Markdown: ``rank``, the :data:`PARAM_DISPLAY_COLUMNS`, ``objective`` then
    ``metrics`` (each column once, in that order)."""
    columns = tuple(dict.fromkeys(("rank", *PARAM_DISPLAY_COLUMNS, objective, *metrics)))
    return markdown_table(ranked, columns, label="rank")
