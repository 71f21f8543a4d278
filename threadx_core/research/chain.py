"""Full-period metrics from monthly sweep partitions, without re-running anything.

Each month of a sweep is its own window (positions closed at month end), so an account that runs
one combination month after month is the chain of those windows: its daily returns are the months'
daily returns concatenated, and its equity compounds. :func:`aggregate` turns monthly partitions
(:mod:`threadx_core.sweep.stored`) of the same grid and timeframe into one partition-shaped frame
over any range of consecutive months: ``timeframe``, every ``Params`` field, every metric of
:data:`metrics.OUTPUT_KEYS` for the whole range, ``daily_returns`` (concatenated) and
``attrs["days"]``/``attrs["months"]``. That frame can be ranked with :func:`selection.rank` and is
itself a valid input of :func:`chain` (chaining is associative).

Equity metrics come from the DAILY returns (one per UTC day, r_k = E_k/E_{k−1} − 1, E_0 = initial
capital): the functions of :mod:`threadx_core.metrics.returns` over days × combinations, annualised
with P = :data:`DAYS_PER_YEAR`, CAGR over the calendar days from the first day to the last. They
are daily-based, unlike the per-bar metrics of a sweep partition (P = bars per year;
docs/ARCHITECTURE.md, Metrics): an aggregated Sharpe, volatility, Sortino or maximum drawdown is
NOT comparable with a partition's stored one (intraday moves are invisible to daily returns), even
over a single month.

Trade metrics are rebuilt from the stored monthly metrics, exactly up to rounding (see :func:`trade_totals`):
wins = n_trades·win_rate, gross win = avg_win·wins, net pnl = final_equity − initial_capital,
losses = (pnl − gross win)/avg_loss, gross loss = avg_loss·losses, fees = fees_paid, traded
notional = turnover·initial_capital. Every stored month started from ``initial_capital``; in the
chained account month m starts from E(start of m) instead. The strategy sizes every position in
proportion to equity and pays fees in proportion to notional (docs/ARCHITECTURE.md, Strategy), so
month m of the chained account is the stored month with every money amount scaled by
g_m = E(start of m)/initial_capital. Money metrics (fees_paid, expectancy, avg/largest win/loss,
profit_factor, turnover, final_equity) are therefore those of the compounding account: Σ g_m·x_m,
not the plain Σ x_m of accounts reset to the initial capital every month. Counts (n_trades, wins,
losses) are plain sums.

What is not exact: ``exposure`` (share of bars in a position) needs each month's bar count, which
is not stored; it is weighted by days (exact when every day has the same number of bars, i.e. no
data gaps). Nothing else is approximated.

Degenerate cases are those of :mod:`threadx_core.metrics.returns` and
:mod:`threadx_core.metrics.trades` (e.g. fewer than two days → volatility/sharpe/sortino NaN; flat
equity → 0.0; no trade → win_rate, profit_factor, expectancy, avg win/loss NaN); besides, no trade
→ largest win/loss NaN, and no day → cagr NaN (a span of 0 days) and exposure NaN. Ruin: a month
that would start at a compounded equity ≤ 0 is never traded (no entry when equity ≤ 0;
docs/ARCHITECTURE.md, Strategy): from there the chained daily returns are 0 and no trade, fee or pnl is added;
volatility/sharpe/sortino are NaN (a return after a non-positive equity is undefined) and cagr is
−1.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from threadx_core import times
from threadx_core.engine import carry
from threadx_core.engine.backtest import loop_params
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.errors import ThreadXError
from threadx_core.metrics import (
    INT_KEYS,
    OUTPUT_KEYS,
    SHORT_WINDOW_DAYS,
    cagr,
    calmar,
    equity_curve,
    max_drawdown,
    max_drawdown_duration,
    per_trade,
    profit_factor,
    sharpe,
    sortino,
    total_return,
    volatility,
    win_rate,
)
from threadx_core.research import months
from threadx_core.research.featured import row_params
from threadx_core.sweep import stored

#: Periods per year of daily returns (crypto trades every day).
DAYS_PER_YEAR = 365


# --------------------------------------------------------------------------------------------
# Trade metrics from the stored monthly metrics
# --------------------------------------------------------------------------------------------


class MonthSetError(ThreadXError, ValueError):
    """Stored months that cannot be chained (none, one twice, one missing, another grid or
    timeframe); the message names the month."""


class TradeTotals(NamedTuple):
    """Additive trade totals per combination (arrays): counts ``n``, ``wins``, ``losses``; money
    ``gross_win`` (> 0), ``gross_loss`` (< 0), net ``pnl``, ``fees``, traded ``notional``;
    ``largest_win``/``largest_loss`` (NaN when none); ``exposed_days`` = exposure·days."""

    n: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    gross_win: np.ndarray
    gross_loss: np.ndarray
    pnl: np.ndarray
    fees: np.ndarray
    notional: np.ndarray
    largest_win: np.ndarray
    largest_loss: np.ndarray
    exposed_days: np.ndarray


def trade_totals(piece: pd.DataFrame) -> TradeTotals:
    """The totals of one partition-shaped frame, in the money of its own run (which started at
    ``initial_capital``), rebuilt from its metrics: wins = round(n_trades·win_rate), gross_win =
    avg_win·wins, pnl = final_equity − initial_capital (exact: docs/ARCHITECTURE.md, Strategy), losses =
    round((pnl − gross_win)/avg_loss) (0 when avg_loss is NaN: no loss), gross_loss =
    avg_loss·losses (trades with pnl exactly 0 are neither), notional = turnover·initial_capital."""
    column = {key: piece[key].to_numpy(np.float64) for key in
              ("n_trades", "win_rate", "avg_win", "avg_loss", "final_equity", "initial_capital",
               "fees_paid", "turnover", "largest_win", "largest_loss", "exposure")}
    wins = np.rint(np.nan_to_num(column["n_trades"] * column["win_rate"]))
    gross_win = np.where(wins > 0, column["avg_win"] * wins, 0.0)
    pnl = column["final_equity"] - column["initial_capital"]
    has_loss = np.isfinite(column["avg_loss"])
    with np.errstate(invalid="ignore"):
        losses = np.where(has_loss, np.rint((pnl - gross_win) / column["avg_loss"]), 0.0)
    days = len(json.loads(piece.attrs["days"]))
    return TradeTotals(column["n_trades"], wins, losses, gross_win,
                       np.where(losses > 0, column["avg_loss"] * losses, 0.0), pnl, column["fees_paid"],
                       column["turnover"] * column["initial_capital"], column["largest_win"],
                       column["largest_loss"], column["exposure"] * days)


#: The trade accumulators (and bar count) a carried partition stores in its end states, the
#: columns :func:`chain` adds up for months that continue each other.
TOTAL_COLUMNS = tuple(f"{stored.CARRY_PREFIX}{name}" for name in
                      ("tr_n", "tr_wins", "tr_losses", "tr_gross_win", "tr_gross_loss", "tr_pnl_sum",
                       "tr_fees", "tr_notional", "tr_held", "tr_largest_win", "tr_largest_loss",
                       "eq_bars"))


def links(pieces: Sequence[pd.DataFrame]) -> list[bool]:
    """For each piece after the first, whether it continues the one before: it started from that
    piece's end states (its ``previous_run_id`` is that piece's ``run_id``) and both store their
    trade accumulators (:data:`TOTAL_COLUMNS`)."""
    return [all(c in a.columns and c in b.columns for c in TOTAL_COLUMNS)
            and bool(b.attrs.get("previous_run_id"))
            and b.attrs.get("previous_run_id") == a.attrs.get("run_id")
            for a, b in itertools.pairwise(pieces)]


def carried_totals(pieces: Sequence[pd.DataFrame]) -> dict[str, np.ndarray]:
    """:data:`TOTAL_COLUMNS` of consecutive carried windows of the same runs, added up (largest
    win/loss: their max/min): those of the run over all of them, exactly — each trade is counted
    once, in the window that closed it, with its whole pnl and both fees."""
    out = {}
    for column in TOTAL_COLUMNS:
        stacked = np.array([piece[column].to_numpy(np.float64) for piece in pieces])
        if column.endswith("largest_win"):
            out[column] = np.fmax.reduce(stacked, axis=0)
        elif column.endswith("largest_loss"):
            out[column] = np.fmin.reduce(stacked, axis=0)
        else:
            out[column] = stacked.sum(axis=0)
    return out


def compound(totals: Sequence[TradeTotals], scale: np.ndarray) -> TradeTotals:
    """Totals of the chained account, from each piece's ``totals`` and ``scale`` (pieces ×
    combinations) = g_m = E(start of m)/initial_capital: piece m contributes its counts where
    g_m > 0 (the account is alive at its start), its money amounts times g_m (Σ_m g_m·x_m), and
    largest win/loss are the max/min of g_m·x_m over the live pieces (NaN when none)."""
    alive = scale > 0.0

    def stacked(field: str) -> np.ndarray:
        return np.array([getattr(piece, field) for piece in totals])

    counts = {f: np.sum(np.where(alive, stacked(f), 0.0), axis=0)
              for f in ("n", "wins", "losses", "exposed_days")}
    money = {f: np.sum(np.where(alive, scale * stacked(f), 0.0), axis=0)
             for f in ("gross_win", "gross_loss", "pnl", "fees", "notional")}
    extremes = {f: pick.reduce(np.where(alive, scale * stacked(f), np.nan), axis=0)
                for f, pick in (("largest_win", np.fmax), ("largest_loss", np.fmin))}
    return TradeTotals(**counts, **money, **extremes)


# --------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------


def align(partitions: Mapping[str, pd.DataFrame], *, consecutive: bool = True) -> dict[str, pd.DataFrame]:
    """``partitions`` (month label ``YYYY-MM`` → sweep partition) checked and sorted by month, each
    reordered to the first month's grid order (rows matched by their ``Params`` columns).

    Raises ``ValueError`` naming the month when: a month is empty (no trading); ``consecutive`` and
    the months are not consecutive (naming the first missing one: a chained account never spans a
    hole, :mod:`threadx_core.research.months`); a partition lacks a column or ``attrs["days"]``, its
    timeframe differs from the first month's, its grid (the set of ``Params`` rows) differs from the
    first month's or has duplicates, or its days are not sorted inside that month.
    """
    if not partitions:
        raise MonthSetError("no sweep partition to aggregate")
    by_month: dict[str, pd.DataFrame] = {}
    for key, frame in partitions.items():
        label = times.month_label(times.parse_month(key))
        if label in by_month:
            raise MonthSetError(f"month {label} is given twice")
        by_month[label] = frame
    labels = sorted(by_month)
    missing = sorted(set(times.month_span(labels[0], labels[-1])) - set(labels))
    if consecutive and missing:
        raise MonthSetError(f"month {missing[0]} is missing: partitions must cover consecutive months")
    for label in labels:
        _check_partition(label, by_month[label])
    first = labels[0]
    reference = pd.MultiIndex.from_frame(by_month[first][list(PARAM_NAMES)])
    if reference.has_duplicates:
        raise MonthSetError(f"month {first}: the grid has duplicate parameter combinations")
    timeframe = _timeframe(first, by_month[first])
    for label in labels:
        if _timeframe(label, by_month[label]) != timeframe:
            raise MonthSetError(f"month {label}: timeframe {_timeframe(label, by_month[label])!r} differs "
                             f"from {first}'s {timeframe!r}")
    return {label: _reorder(label, by_month[label], reference, first) for label in labels}


def _check_partition(label: str, frame: pd.DataFrame) -> None:
    """Raise naming ``label`` if ``frame`` is not a readable sweep partition of that month."""
    if months.is_empty(frame):
        raise MonthSetError(f"month {label} has no trading (an empty month): a chained account "
                            f"cannot span it, chain the months before and after it apart")
    needed = [*PARAM_NAMES, *OUTPUT_KEYS, "timeframe", "daily_returns"]
    absent = [c for c in needed if c not in frame.columns]
    if absent or "days" not in frame.attrs:
        raise MonthSetError(f"month {label}: not a sweep partition (missing {absent or 'attrs[days]'})")
    days = pd.DatetimeIndex(json.loads(frame.attrs["days"]), tz="UTC")
    start, end = times.month_bounds(label)
    if len(days) and (not days.is_monotonic_increasing or not days.is_unique
                      or days[0] < start or days[-1] >= end):
        raise MonthSetError(f"month {label}: its days are not sorted days of that month")


def _timeframe(label: str, frame: pd.DataFrame) -> str:
    values = frame["timeframe"].unique()
    if len(values) > 1:
        raise MonthSetError(f"month {label}: several timeframes {sorted(values)} in one partition")
    return str(values[0]) if len(values) else ""


def _reorder(label: str, frame: pd.DataFrame, reference: pd.MultiIndex, first: str) -> pd.DataFrame:
    """``frame`` in the order of ``reference``; raises naming ``label`` if the grids differ."""
    keys = pd.MultiIndex.from_frame(frame[list(PARAM_NAMES)])
    order = keys.get_indexer(reference) if keys.is_unique else np.array([-1])
    if len(frame) != len(reference) or np.any(order < 0):
        raise MonthSetError(f"month {label}: its grid ({len(frame)} combinations) differs from {first}'s "
                         f"({len(reference)}): partitions must come from the same grid")
    out = frame.iloc[order].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


def chain(pieces: Sequence[pd.DataFrame], *, close_at_end: bool = False) -> pd.DataFrame:
    """The chained account of ``pieces`` — partition-shaped frames of the same grid in the same row
    order, in time order (as :func:`align` returns them, or earlier :func:`chain` outputs): one
    row per combination with ``timeframe``, the ``Params`` columns, every metric of
    :data:`OUTPUT_KEYS` over the whole span (see the module docstring), ``daily_returns``
    (concatenated) and ``attrs["days"]``. Associative: chain([chain([a, b]), c]) equals
    chain([a, b, c]) up to rounding.

    Windows of a continuing run (:func:`links`: every month started from the previous one's
    end states) chain exactly: the daily returns are the run's, the trade metrics come from the
    added-up accumulators (:func:`carried_totals`), ``exposure`` is bars held / bars, and
    ``final_equity`` is the last window's. The output then keeps :data:`TOTAL_COLUMNS`. Isolated
    months (stored by older code) are compounded as the module docstring says; a mix of both is
    refused."""
    if not pieces:
        raise MonthSetError("nothing to chain")
    linked = links(pieces)
    carried = all(c in piece.columns for piece in pieces for c in TOTAL_COLUMNS) and all(linked)
    if any(linked) and not all(linked):
        raise MonthSetError("some months continue each other and some are isolated backtests (stored "
                            "by older code or from other inputs): re-materialise the sweeps of the range")
    lengths = [len(json.loads(piece.attrs["days"])) for piece in pieces]
    offsets = np.cumsum([0, *lengths[:-1]])
    daily = np.concatenate([stored.daily_returns(piece).to_numpy(np.float64) for piece in pieces])
    days = [day for piece in pieces for day in json.loads(piece.attrs["days"])]
    calendar_days = (pd.Timestamp(days[-1]) - pd.Timestamp(days[0])).days + 1 if days else 0
    capital = pieces[0]["initial_capital"].to_numpy(np.float64)
    if carried:
        sums = carried_totals(pieces)
        final = pieces[-1]["final_equity"].to_numpy(np.float64)
        open_at_end = pieces[-1][stored.CARRY_PREFIX + "side"].to_numpy() != 0 \
            if stored.has_end_state(pieces[-1]) else np.zeros(len(final), dtype=bool)
        if close_at_end:
            daily, final, open_at_end = _close_span(pieces[-1], sums, daily, final)
        metrics = _equity_metrics(daily, calendar_days)
        seeded = sum(int(piece.attrs.get("seeded", bool(piece.attrs.get("previous_run_id"))))
                     for piece in pieces)
        metrics.update(_carried_trade_metrics(sums, capital, final, seeded))
    else:
        daily = _stop_after_ruin(daily, offsets, lengths)
        curve = equity_curve(daily)
        totals = compound([trade_totals(piece) for piece in pieces], curve[offsets])
        metrics = _equity_metrics(daily, calendar_days)
        metrics.update(_trade_metrics(totals, capital, len(days), curve[-1]))
    metrics["cagr_short_window"] = np.full(daily.shape[1], calendar_days < SHORT_WINDOW_DAYS)
    out = pieces[0][["timeframe", *PARAM_NAMES]].reset_index(drop=True)
    for key in OUTPUT_KEYS:
        out[key] = metrics[key].astype(np.int64) if key in INT_KEYS else metrics[key]
    out["daily_returns"] = [np.ascontiguousarray(daily[:, i]) for i in range(daily.shape[1])]
    if carried:
        for column, values in sums.items():
            out[column] = values
        out["open_at_end"] = open_at_end
        if not close_at_end and stored.has_end_state(pieces[-1]):
            for column in stored.CARRY_COLUMNS:
                if column not in TOTAL_COLUMNS:
                    out[column] = pieces[-1][column].to_numpy()
    out.attrs = {"days": json.dumps(days), "run_id": pieces[-1].attrs.get("run_id", ""),
                 "previous_run_id": pieces[0].attrs.get("previous_run_id", "")}
    if carried:
        out.attrs["seeded"] = str(seeded)  # windows among the pieces that continued another
    return out


def _close_span(last: pd.DataFrame, sums: dict[str, np.ndarray], daily: np.ndarray,
                final: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Close the positions open at the end of ``last`` (the span's last window): ``sums`` gain the
    closing trades (in place); returns the daily returns with the last day's closed, the closed
    final equity and which rows were closed."""
    if not stored.has_end_state(last):
        raise MonthSetError("the last month of the span stores no end state to close")
    rows = carry.to_rows(stored.end_state(last), len(last))
    out = carry.close_out(rows, [loop_params(row_params(row)) for _, row in last.iterrows()])
    pnl, opened = out.pnl, out.was_open
    win, loss = opened & (pnl > 0.0), opened & (pnl < 0.0)

    def add(name: str, values: np.ndarray) -> None:
        sums[stored.CARRY_PREFIX + name] = sums[stored.CARRY_PREFIX + name] + values

    add("tr_n", opened.astype(np.float64))
    add("tr_wins", win.astype(np.float64))
    add("tr_losses", loss.astype(np.float64))
    add("tr_gross_win", np.where(win, pnl, 0.0))
    add("tr_gross_loss", np.where(loss, pnl, 0.0))
    for name, values in (("tr_pnl_sum", pnl), ("tr_fees", out.fees), ("tr_notional", out.notional),
                         ("tr_held", out.held)):
        add(name, values)
    for name, pick, mask in (("tr_largest_win", np.fmax, win), ("tr_largest_loss", np.fmin, loss)):
        key = stored.CARRY_PREFIX + name
        sums[key] = pick(sums[key], np.where(mask, pnl, np.nan))
    daily = daily.copy()
    if len(daily):
        with np.errstate(invalid="ignore", divide="ignore"):
            daily[-1] = np.where(opened, (1.0 + daily[-1]) * out.equity / final - 1.0, daily[-1])
    return daily, np.where(opened, out.equity, final), opened


def _carried_trade_metrics(sums: Mapping[str, np.ndarray], capital: np.ndarray, final: np.ndarray,
                           seeded: int) -> dict[str, np.ndarray]:
    """Trade metrics of a continuing run from its added-up accumulators (the formulas of
    :func:`threadx_core.metrics.nb.metrics_into`, turnover over the initial capital), ``seeded``
    of its windows having continued another (:data:`carry.SEEDED_BARS`)."""
    def total(name: str) -> np.ndarray:
        return sums[stored.CARRY_PREFIX + name]

    n, wins, losses = total("tr_n"), total("tr_wins"), total("tr_losses")
    with np.errstate(invalid="ignore", divide="ignore"):
        exposure = total("tr_held") / (total("eq_bars") - seeded * carry.SEEDED_BARS)
    return {"n_trades": n, "win_rate": win_rate(wins, n),
            "profit_factor": profit_factor(total("tr_gross_win"), total("tr_gross_loss")),
            "expectancy": per_trade(total("tr_pnl_sum"), n),
            "avg_win": per_trade(total("tr_gross_win"), wins),
            "avg_loss": per_trade(total("tr_gross_loss"), losses),
            "largest_win": total("tr_largest_win"), "largest_loss": total("tr_largest_loss"),
            "exposure": exposure, "fees_paid": total("tr_fees"),
            "turnover": total("tr_notional") / capital, "final_equity": final}


def _stop_after_ruin(daily: np.ndarray, offsets: np.ndarray, lengths: list[int]) -> np.ndarray:
    """``daily`` with every return of a piece that starts at an equity ≤ 0, and of every later
    piece, set to 0: a ruined account makes no entry, so it stays flat from there."""
    dead = np.logical_or.accumulate(~(equity_curve(daily)[offsets] > 0.0), axis=0)
    return np.where(np.repeat(dead, lengths, axis=0), 0.0, daily)


def _equity_metrics(daily: np.ndarray, calendar_days: int) -> dict[str, np.ndarray]:
    """The equity metrics of days × combinations ``daily`` over ``calendar_days`` (CAGR's span)."""
    return {"total_return": total_return(daily), "cagr": cagr(daily, DAYS_PER_YEAR, calendar_days),
            "volatility": volatility(daily, DAYS_PER_YEAR), "sharpe": sharpe(daily, DAYS_PER_YEAR),
            "sortino": sortino(daily, DAYS_PER_YEAR),
            "calmar": calmar(daily, DAYS_PER_YEAR, calendar_days), "max_drawdown": max_drawdown(daily),
            "max_drawdown_duration": max_drawdown_duration(daily)}


def _trade_metrics(totals: TradeTotals, capital: np.ndarray, n_days: int,
                   final: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        exposure = totals.exposed_days / n_days if n_days else np.full(capital.shape, np.nan)
    return {"n_trades": totals.n, "win_rate": win_rate(totals.wins, totals.n),
            "profit_factor": profit_factor(totals.gross_win, totals.gross_loss),
            "expectancy": per_trade(totals.pnl, totals.n),
            "avg_win": per_trade(totals.gross_win, totals.wins),
            "avg_loss": per_trade(totals.gross_loss, totals.losses),
            "largest_win": totals.largest_win, "largest_loss": totals.largest_loss,
            "exposure": exposure, "fees_paid": totals.fees,
            "turnover": totals.notional / capital, "final_equity": capital * final}


def aggregate(partitions: Mapping[str, pd.DataFrame], first: str | None = None,
              last: str | None = None, *, close_at_end: bool = False) -> pd.DataFrame:
    """Full-period metrics of every combination over the months ``first``..``last`` (inclusive;
    default: all) of ``partitions`` (month label → sweep partition of one symbol and timeframe):
    :func:`chain` of the :func:`align` -ed months, with ``attrs["months"]`` (JSON list of the
    months). Raises ``ValueError`` naming the month when the partitions cannot be combined, and
    when ``first``/``last`` select no month."""
    aligned = align(partitions)
    lo = times.parse_month(first) if first else times.parse_month(next(iter(aligned)))
    hi = times.parse_month(last) if last else times.parse_month(list(aligned)[-1])
    chosen = [label for label in aligned if lo <= times.parse_month(label) <= hi]
    if not chosen:
        raise MonthSetError(f"no partition between {first or 'the first month'} and {last or 'the last'}")
    out = chain([aligned[label] for label in chosen], close_at_end=close_at_end)
    out.attrs["months"] = json.dumps(chosen)
    return out
