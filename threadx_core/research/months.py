"""A symbol's month set as the research reads it: empty months, holes and chains.

What a month partition can be (docs/ARCHITECTURE.md, Asset graph): *full* (a finished month
fetched through its end), *partial* (the current month, fetched up to now) or *empty* (fetched,
and the exchange has no candle in it: before a listing, after a delisting). Every asset of an
empty month succeeds and stores that state: ``raw_1m``/``ohlcv_<tf>``/``indicators_<tf>`` with no
row, and the sweep partition of :func:`empty_sweep` — no row (no combination ran: there is no bar
to run on), every column of a sweep partition, ``attrs`` ``days`` = ``[]``, ``run_id``, ``devices``
= ``-`` and :data:`EMPTY` = ``"true"``.

A *hole* is a month of a symbol's span that cannot be chained: not stored for some sweep
timeframe, or empty. :func:`month_chains` splits the span at its holes into *chains* of consecutive
chainable months; a chained account (:mod:`.chain`) never spans a hole, and a hole ending one chain
and starting another is reported in one warning naming the symbol and the months.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from threadx_core import times
from threadx_core.engine import carry
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.sweep import stored
from threadx_core.sweep.grid import Grid
from threadx_core.sweep.run import with_metrics

#: The ``attrs`` key of an empty month's sweep partition (value ``"true"``).
EMPTY = "empty"


def empty_sweep(grid: Grid, timeframe: str, run_id: str) -> pd.DataFrame:
    """The sweep partition of a month without bars: the columns (and dtypes) of a sweep
    partition of ``grid`` on ``timeframe``, no row, ``attrs`` as the module docstring says. No
    kernel runs: a backtest of no bar has no trade, no equity path and no daily return."""
    params = pd.DataFrame([grid[0].to_dict()])[list(PARAM_NAMES)].iloc[:0].reset_index(drop=True)
    frame = with_metrics(params, np.empty((0, len(OUTPUT_KEYS))))
    frame.insert(0, "timeframe", pd.Series(dtype=object))
    frame["daily_returns"] = pd.Series(dtype=object)
    for name, column in zip(carry.COLUMNS, stored.CARRY_COLUMNS, strict=True):
        frame[column] = pd.Series(dtype=np.int64 if name in carry.INT_COLUMNS else np.float64)
    frame.attrs = {"days": json.dumps([]), "run_id": run_id, "devices": "-", EMPTY: "true"}
    return frame


def is_empty(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is the sweep partition of an empty month (:func:`empty_sweep`)."""
    return frame.attrs.get(EMPTY) == "true"


class MonthChains(NamedTuple):
    """``chains``: the runs of consecutive chainable months, in time order; ``holes``: the other
    months of the span with why (``"no trading"``; ``"not stored"``, or ``"not stored for 4h"``
    when other timeframes store it), in time order."""

    chains: list[list[str]]
    holes: dict[str, str]

    @property
    def longest(self) -> int:
        """Months in the longest chain (0 when there is none)."""
        return max(map(len, self.chains), default=0)

    def warning(self, title: str | None) -> str | None:
        """One line naming ``title`` (the symbol, and the timeframe if any; ``None``: the caller
        prefixes it), every hole and the chains they leave; ``None`` when the span has no hole."""
        if not self.holes:
            return None
        holes = "; ".join(f"{reason}: {', '.join(ms)}" for reason, ms in _by_reason(self.holes).items())
        chains = ", ".join(f"{c[0]}..{c[-1]}" for c in self.chains) or "none"
        line = f"months that cannot be chained ({holes}); chains {chains}, each on its own, none joined " \
               f"across a hole"
        return line if title is None else f"{title}: {line}"


def _by_reason(holes: Mapping[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for month, reason in holes.items():
        grouped.setdefault(reason, []).append(month)
    return grouped


def month_chains(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], span: Sequence[str]) -> MonthChains:
    """The chains of ``span`` (consecutive ``YYYY-MM`` labels, ascending) in ``sweeps`` (timeframe →
    month label → stored sweep partition): a month is chainable when every timeframe stores it and
    none stores it empty; any other month is a hole."""
    chains: list[list[str]] = []
    holes: dict[str, str] = {}
    previous_chained = False
    for month in span:
        absent = [tf for tf, stored in sweeps.items() if month not in stored]
        empty = [tf for tf, stored in sweeps.items() if month in stored and is_empty(stored[month])]
        if absent or empty:
            holes[month] = ("no trading" if not absent else "not stored" if len(absent) == len(sweeps)
                            else f"not stored for {', '.join(absent)}")
            previous_chained = False
            continue
        if not previous_chained:
            chains.append([])
        chains[-1].append(month)
        previous_chained = True
    return MonthChains(chains, holes)


def chains_of(partitions: Mapping[str, pd.DataFrame]) -> MonthChains:
    """:func:`month_chains` of one timeframe's ``partitions`` (month → sweep partition; keys any
    form :func:`times.parse_month` reads) over their span, from the first stored month to the last."""
    by_label = {times.month_label(times.parse_month(key)): frame for key, frame in partitions.items()}
    span = times.month_span(min(by_label), max(by_label)) if by_label else []
    return month_chains({"": by_label}, span)
