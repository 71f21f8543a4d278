"""Full-period metrics over any range of stored months, for every sweep timeframe of a symbol.

Input: timeframe → (month label ``YYYY-MM`` → stored sweep partition), holding the months that
exist. :func:`full_period` takes the range ``first``..``last`` (inclusive; by default the first
and the last month stored for any timeframe), requires every month of it to be stored for every
timeframe, aggregates each timeframe over it with :func:`chain.aggregate` (the range as one
evaluated window of each combination's continuing run — the months continue each other,
:mod:`threadx_core.sweep.chained` — closed at the range's last close: a position still open there
is closed as "end" and ``open_at_end`` marks its row; trade counts, fees, win rate, profit factor,
final equity and total return are then those of one run over the range, exactly; daily-based
equity metrics, NOT comparable with a partition's per-bar ones — see that module) and ranks the
rows of all timeframes together, as ``best_by_run`` does for a month. Nothing is re-run: only the
stored metrics, daily returns and end states are read. A range starting at a chain's first month
is the run from a flat start; a later start is the window of the run already under way (it may
hold a position carried in).

:func:`full_periods` is the same over a range that may hold holes (months not stored for a
timeframe, or empty: :mod:`threadx_core.research.months`): one :class:`FullPeriod` per chain of
consecutive chainable months, never one account across a hole, and a warning naming the holes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core import times
from threadx_core.present.plots import objective_pngs
from threadx_core.research import chain, months, selection


@dataclass(frozen=True)
class FullPeriod:
    """The range ``first``..``last`` (``months``: its labels; ``days``: its UTC days with data),
    ``frame`` — one row per timeframe × combination, in timeframe then grid order: ``timeframe``, the
    ``Params`` columns, every metric of ``metrics.OUTPUT_KEYS`` over the range and ``daily_returns``
    (a float64 array per row); ``attrs``: ``first``, ``last``, ``months`` and ``days`` (JSON lists,
    the days being the same for every timeframe), so that the rows of one timeframe are a valid input
    of :func:`chain.chain` — ``top``, the ``top_k`` best rows by :func:`selection.rank` (without
    daily returns) — and ``charts``, PNGs of the objective over the eligible rows (``heatmap`` over
    the Bollinger settings, ``distribution`` across the grid); none when no row is eligible."""

    first: str
    last: str
    months: list[str]
    days: int
    frame: pd.DataFrame
    top: pd.DataFrame
    charts: dict[str, bytes]


def full_period(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], first: str | None = None,
                last: str | None = None, *, objective: str, min_trades: int, top_k: int,
                title: str) -> FullPeriod:
    """The full-period metrics of every combination of every timeframe of ``sweeps`` over
    ``first``..``last``, ranked by ``objective`` among rows with at least ``min_trades`` trades.

    Raises ``ValueError`` starting with ``title`` (the symbol) when: ``sweeps`` is empty;
    ``first``/``last`` is not a ``YYYY-MM`` month or ``last`` precedes ``first``; nothing is stored;
    a month of the range is not stored for a timeframe (naming the timeframe and the first such
    month); the stored months cannot be aggregated (naming the timeframe and the month, see
    :func:`chain.align`, which refuses an empty month); two timeframes cover different days in a
    month (naming both and the month). ``objective`` must be one of :data:`selection.OBJECTIVES`.
    One account over a hole does not exist: :func:`full_periods` splits a range at its holes.
    """
    labels = _labels(sweeps, first, last, title)
    for tf, stored in sweeps.items():
        absent = [m for m in labels if m not in stored]
        if absent:
            raise chain.MonthSetError(f"{title} {tf}: month {absent[0]} is not stored (stored: "
                                      f"{', '.join(sorted(stored)) or 'none'}); the range "
                                      f"{labels[0]}..{labels[-1]} needs every month of it")
    return _period(sweeps, labels, objective=objective, min_trades=min_trades, top_k=top_k, title=title)


@dataclass(frozen=True)
class FullPeriods:
    """The range ``first``..``last`` asked for, one :class:`FullPeriod` per chain of it
    (``periods``, in time order; none when no month of the range can be chained), its ``holes``
    (month → why, :class:`months.MonthChains`) and the ``warning`` naming them (``None`` when it
    has none)."""

    first: str
    last: str
    periods: list[FullPeriod]
    holes: dict[str, str]
    warning: str | None

    @property
    def frame(self) -> pd.DataFrame:
        """Every period's rows, in time order, with the period's ``first`` and ``last`` month as
        columns; ``attrs``: ``first``, ``last`` (the range), ``chains`` (JSON list of
        ``[first, last]``), ``months`` and ``days`` (JSON lists over every period)."""
        parts = [p.frame.assign(first=p.first, last=p.last) for p in self.periods]
        frame = (pd.concat(parts, ignore_index=True) if parts
                 else pd.DataFrame({"timeframe": [], "first": [], "last": []}))
        frame.attrs = {"first": self.first, "last": self.last,
                       "chains": json.dumps([[p.first, p.last] for p in self.periods]),
                       "months": json.dumps([m for p in self.periods for m in p.months]),
                       "days": json.dumps([d for p in self.periods
                                           for d in json.loads(p.frame.attrs["days"])])}
        return frame


def full_periods(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], first: str | None = None,
                 last: str | None = None, *, objective: str, min_trades: int, top_k: int,
                 title: str) -> FullPeriods:
    """:func:`full_period` of each chain of ``first``..``last`` (:func:`months.month_chains`: a
    month not stored for some timeframe, or empty, is a hole that ends one chain and starts
    another). The range must start and end on months stored for every timeframe (an empty month
    counts as stored); otherwise (naming the timeframe and the first month not stored at the
    start, else at the end), and for the other errors of :func:`full_period`, raises ``ValueError``
    starting with ``title``."""
    labels = _labels(sweeps, first, last, title)
    for tf, stored in sweeps.items():
        if (absent := _unstored_edge(labels, stored)) is not None:
            raise chain.MonthSetError(f"{title} {tf}: month {absent} is not stored (stored: "
                                      f"{', '.join(sorted(stored)) or 'none'}); the range "
                                      f"{labels[0]}..{labels[-1]} must start and end on stored months")
    split = months.month_chains(sweeps, labels)
    periods = [_period(sweeps, run, objective=objective, min_trades=min_trades, top_k=top_k, title=title)
               for run in split.chains]
    return FullPeriods(labels[0], labels[-1], periods, split.holes, split.warning(title))


def _unstored_edge(labels: list[str], stored: Mapping[str, pd.DataFrame]) -> str | None:
    """The first of the months of ``labels`` not in ``stored`` at its start, else at its end."""
    lead = list(itertools.takewhile(lambda m: m not in stored, labels))
    trail = list(itertools.takewhile(lambda m: m not in stored, reversed(labels)))[::-1]
    return (lead or trail or [None])[0]


def _labels(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], first: str | None, last: str | None,
            title: str) -> list[str]:
    """The labels of the range asked for, checked (errors start with ``title``)."""
    if not sweeps:
        raise chain.MonthSetError(f"{title}: no sweep timeframe to aggregate")
    try:
        return _range(sweeps, first, last)
    except ValueError as exc:
        raise chain.MonthSetError(f"{title}: {exc}") from None


def _period(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], labels: list[str], *, objective: str,
            min_trades: int, top_k: int, title: str) -> FullPeriod:
    """The :class:`FullPeriod` of ``labels``, every one of them stored for every timeframe."""
    frames = []
    for tf, stored in sweeps.items():
        try:
            frames.append(chain.aggregate({m: stored[m] for m in labels}, close_at_end=True))
        except ValueError as exc:
            raise chain.MonthSetError(f"{title} {tf}: {exc}") from None
    _check_same_days(sweeps, labels, title)
    frame = pd.concat(frames, ignore_index=True)
    days = frames[0].attrs["days"]
    frame.attrs = {"first": labels[0], "last": labels[-1], "months": json.dumps(labels), "days": days}
    results = frame.drop(columns="daily_returns")
    top = selection.rank(results, objective, min_trades=min_trades).head(top_k)
    return FullPeriod(labels[0], labels[-1], labels, len(json.loads(days)), frame, top,
                      _charts(results, top, objective, min_trades, f"{title} {labels[0]}..{labels[-1]}"))


def _range(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], first: str | None,
           last: str | None) -> list[str]:
    """Month labels ``first``..``last``, each defaulting to the first/last month stored."""
    stored = sorted({times.month_label(times.parse_month(m))
                     for by_month in sweeps.values() for m in by_month})
    if not stored and not (first and last):
        raise chain.MonthSetError("no sweep partition is stored: materialise the months first")
    lo = times.month_label(times.parse_month(first)) if first else stored[0]
    hi = times.month_label(times.parse_month(last)) if last else stored[-1]
    return times.month_span(lo, hi)


def _check_same_days(sweeps: Mapping[str, Mapping[str, pd.DataFrame]], labels: list[str],
                     title: str) -> None:
    """Raise unless every timeframe's partition of each month covers the same days."""
    tfs = list(sweeps)
    for month in labels:
        days = {tf: json.loads(sweeps[tf][month].attrs["days"]) for tf in tfs}
        for tf in tfs[1:]:
            if days[tf] != days[tfs[0]]:
                raise chain.MonthSetError(
                    f"{title} {tf}: month {month} covers {len(days[tf])} days but {tfs[0]} "
                    f"{len(days[tfs[0]])}: re-materialise that month so the timeframes compare "
                    f"over the same days")


def _charts(results: pd.DataFrame, top: pd.DataFrame, objective: str, min_trades: int,
            title: str) -> dict[str, bytes]:
    eligible = results[(results["n_trades"] >= min_trades) & np.isfinite(results[objective])]
    if top.empty or eligible.empty:
        return {}
    return objective_pngs(eligible, top[objective].iloc[0], objective, title)
