"""The carried state of a run as a frame (docs/ARCHITECTURE.md, Strategy, "Carried state"): one
row per run (per sweep combination), the columns of :data:`threadx_core.engine.nb.CARRY_COLUMNS`,
int64 where the compiled state holds an integer or a flag, float64 elsewhere — what a sweep
partition can store and the next month start from.

The compiled code reads and writes these rows as float64 arrays (integers as exact floats);
this module converts between the two, builds the rows a run starts from when nothing is carried
in, and fills the entry times the compiled code cannot know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, get_type_hints

import numpy as np
import pandas as pd

from threadx_core.engine import nb
from threadx_core.metrics.nb import EquityAcc, TradeAcc, equity_acc_add, equity_acc_new, trade_acc_new

COLUMNS: tuple[str, ...] = nb.CARRY_COLUMNS


def _int_columns() -> frozenset[str]:
    """Columns of integer or flag fields (their NamedTuple annotation is ``int`` or ``bool``)."""
    names = {"entry_time"}
    for prefix, fields in (("", nb.State), ("eq_", EquityAcc), ("tr_", TradeAcc)):
        names.update(prefix + name for name, kind in get_type_hints(fields).items()
                     if kind in (int, bool))
    return frozenset(names)


#: Columns stored as int64 (exact integers in the compiled rows).
INT_COLUMNS = _int_columns()


def fresh(initial_capital: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rows ``(len(initial_capital), len(COLUMNS))`` of runs that start here: flat, all cash,
    no pending order, no bar or trade seen."""
    capital = np.asarray(initial_capital, dtype=np.float64).reshape(-1)
    rows = np.empty((capital.size, len(COLUMNS)))
    for row, cash in zip(rows, capital, strict=True):
        nb.store_carry(row, nb.initial_state(float(cash)), equity_acc_new(), trade_acc_new(),
                       np.nan, np.nan, np.nan, float(cash), 0.0, 0, -1.0)
    return rows


def window_start(rows: np.ndarray) -> np.ndarray:
    """``rows`` (carried end states) as the start of a new *evaluated window* of the same runs:
    position, cash, pending order, previous bar and last daily sample carried unchanged; the metric
    accumulators and the minutes run start again, the equity accumulator from the last equity of
    the window before (its one sample, so the window's first return is its first bar's, and its
    ``total_return`` is its growth). The window's metrics are then those of its own bars and of
    the trades it closes (a trade carried in counts in the window that closes it, with its whole
    pnl, both fees and its bars held since entry); its equity accumulator counts one bar more than
    the window has (:data:`SEEDED_BARS`). Returns a new array."""
    out = np.array(rows, dtype=np.float64, copy=True)
    fresh_tr = trade_acc_new()
    last = out[:, COLUMNS.index("eq_last")].copy()
    for row, equity in zip(out, last, strict=True):
        seeded = equity_acc_add(equity_acc_new(), float(equity))
        for name, value in zip(seeded._fields, seeded, strict=True):
            row[COLUMNS.index("eq_" + name)] = float(value)
    for name, value in zip(fresh_tr._fields, fresh_tr, strict=True):
        out[:, COLUMNS.index("tr_" + name)] = float(value)
    out[:, COLUMNS.index("minutes")] = 0.0
    return out


#: Equity samples a window started by :func:`window_start` counts beyond its own bars.
SEEDED_BARS = 1


def fill_entry_times(rows: np.ndarray, times: pd.DatetimeIndex) -> None:
    """Set, in place, the entry time (epoch ms) of each row whose position was opened in the
    window of bar open times ``times`` that produced it (relative entry bar ≥ −len(times))."""
    n = len(times)
    side = rows[:, COLUMNS.index("side")]
    bar = rows[:, COLUMNS.index("entry_bar")].astype(np.int64) + n
    opened = (side != 0) & (bar >= 0)
    if opened.any():
        rows[opened, nb.ENTRY_TIME] = times[bar[opened]].as_unit("ms").asi8.astype(np.float64)


def to_frame(rows: np.ndarray) -> pd.DataFrame:
    """Typed frame of compiled rows (:data:`INT_COLUMNS` as int64)."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in INT_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    return frame


def to_rows(frame: pd.DataFrame, count: int) -> np.ndarray:
    """Compiled rows of a state frame of ``count`` runs; raises ``ValueError`` naming a missing
    column or a wrong row count."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"carried state lacks column(s) {missing}")
    if len(frame) != count:
        raise ValueError(f"carried state has {len(frame)} rows for {count} runs")
    return np.ascontiguousarray(frame[list(COLUMNS)].to_numpy(np.float64))


class ClosedOut(NamedTuple):
    """What closing carried positions at the last close of their window gives, per row:
    ``was_open`` (a position was open), the closing trade's ``pnl`` (net of both fees), ``fees``
    (entry + exit), traded ``notional`` (entry + exit) and bars ``held``, and the ``equity`` after
    it (the cash while flat; the marked equity where nothing was open). Zero where nothing was open."""

    was_open: np.ndarray
    pnl: np.ndarray
    fees: np.ndarray
    notional: np.ndarray
    held: np.ndarray
    equity: np.ndarray


def close_out(rows: np.ndarray, loops: Sequence[nb.LoopParams]) -> ClosedOut:
    """Close, as the engine's step 5 does at the end of an evaluated window (exit "end" at the
    window's last close, a pending order dropped), the runs whose end states are ``rows``
    (``loops``: each row's compiled parameters). The same operations as a run closed there, so the
    figures equal a run over the same bars with ``close_at_end``."""
    count = len(rows)
    was_open = np.zeros(count, dtype=bool)
    pnl, fees, notional, held, equity = (np.zeros(count) for _ in range(5))
    for i, (row, loop) in enumerate(zip(rows, loops, strict=True)):
        st, _, _, close, _, _, _, _ = nb.load_carry(np.asarray(row, dtype=np.float64))
        st, closed = nb.close_at_end(st, -1, close, loop)
        equity[i] = nb.mark(st, close)
        if closed.reason != nb.NO_EXIT:
            was_open[i] = True
            pnl[i], fees[i] = closed.pnl, closed.fees
            notional[i] = closed.qty * closed.entry_price + closed.qty * closed.exit_price
            held[i] = closed.exit_bar - closed.entry_bar
    return ClosedOut(was_open, pnl, fees, notional, held, equity)
