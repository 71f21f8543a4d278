"""A month's sweep as the continuation of the previous month's (docs/ARCHITECTURE.md, Sweeps and
devices, "Months are partitions, not separate backtests").

:func:`chained_month_sweep` gives the stored partition (:mod:`threadx_core.sweep.stored`) of one
symbol-month of one timeframe in which every combination starts from the end state it reached at
the end of the previous month: position, stop, pending order, cash and equity carried, so that the
months of a chain are one continuous run. Each month is its own *evaluated window* of that run
(:func:`threadx_core.engine.carry.window_start`): its metrics are those of its bars and of the
trades it closes, nothing is closed at its end.

The previous month's partition is used when it *continues the current inputs*: it stores end
states and its run id is the one its stored bars and indicators, the grid and the code give on top
of the month it itself continued. Any other previous month — not stored yet (another run of the same
backfill may be about to write it), or stored from other bars — is computed here first, walking back
until a month that does, or the start of the chain; those months are returned in ``computed`` so that
the caller stores them and their own runs reuse them. So a month's partition is the in-order chain's,
whichever order Dagster runs the months in.

A chain starts (flat, with the initial capital) at the first partition month, and after a month
without stored bars or without any bar (no trading): a hole (:mod:`threadx_core.research.months`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pandas as pd

from threadx_core import times
from threadx_core.engine import carry
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.research import months
from threadx_core.sweep import stored

#: ``read_inputs(month)``: the month's ``(bars, indicator cache)`` of the timeframe, or ``None``
#: when no bars are stored for it.
ReadInputs = Callable[[str], "tuple[pd.DataFrame, pd.DataFrame] | None"]
#: ``read_sweep(month)``: the month's stored (or already computed) partition, or ``None``.
ReadSweep = Callable[[str], "pd.DataFrame | None"]
#: ``run_id(bars, cache, previous_run_id)``: the run id of a month (grid, data, code, predecessor).
RunId = Callable[[pd.DataFrame, pd.DataFrame, str], str]
#: ``run_month(month, bars, cache, start, run_id, previous_run_id)``: the month's partition, every
#: combination started from the ``start`` end states (None: a fresh start).
RunMonth = Callable[[str, pd.DataFrame, pd.DataFrame, "pd.DataFrame | None", str, str], pd.DataFrame]


class MonthSweep(NamedTuple):
    """``frame``: the month's partition; ``reused``: it was the stored one (same run id: nothing
    ran); ``previous``: the month it continues (``None`` at the start of a chain); ``chain_start``:
    why a chain starts here (``None`` when carried; ``"first"`` at the first partition month, else
    the hole before it); ``computed``: earlier months computed here, month → partition, in
    calendar order, for the caller to store."""

    frame: pd.DataFrame
    reused: bool
    previous: str | None
    chain_start: str | None
    computed: dict[str, pd.DataFrame]


def continues(frame: pd.DataFrame, bars: pd.DataFrame, cache: pd.DataFrame, run_id: RunId) -> bool:
    """Whether the stored partition ``frame`` is the one ``bars``/``cache`` give on top of the month
    it continued (so the next month may start from its end states)."""
    return (stored.has_end_state(frame) and not months.is_empty(frame)
            and frame.attrs.get("run_id") == run_id(bars, cache, frame.attrs.get("previous_run_id", "")))


def start_states(frame: pd.DataFrame) -> pd.DataFrame:
    """The states a month starts from after the stored partition ``frame`` of the month before:
    its end states, as a new evaluated window (:func:`carry.window_start`)."""
    rows = carry.to_rows(stored.end_state(frame), len(frame))
    return carry.to_frame(carry.window_start(rows))


def start_of(frame: pd.DataFrame, previous: pd.DataFrame | None,
             params: Mapping[str, Any]) -> pd.Series | None:
    """The state the stored partition ``frame`` started the combination ``params`` (its
    ``Params`` fields) from: that combination's row of ``previous``, the partition of the month
    before, as a new window; ``None`` when ``frame`` starts a chain. Raises ``ValueError`` when
    ``previous`` is not the partition ``frame`` continued (absent, or another run id) or lacks the
    combination."""
    wanted = frame.attrs.get("previous_run_id", "")
    if not wanted:
        return None
    if previous is None or previous.attrs.get("run_id") != wanted:
        found = "not stored" if previous is None else f"run {previous.attrs.get('run_id')}"
        raise ValueError(f"the previous month's sweep is not the one this month continued (run {wanted}): "
                         f"{found}; re-materialise the sweep of the previous month and this one")
    match = (previous[list(PARAM_NAMES)] == pd.Series({k: params[k] for k in PARAM_NAMES})).all(axis=1)
    if not match.any():
        raise ValueError(f"the previous month's sweep lacks the combination {dict(params)}")
    return start_states(previous[match.to_numpy()].iloc[:1]).iloc[0]


def chained_month_sweep(month: str, first_month: str, read_inputs: ReadInputs, read_sweep: ReadSweep,
                        run_id: RunId, run_month: RunMonth) -> MonthSweep:
    """The partition of ``month`` continuing the in-order chain (module docstring); months before
    ``first_month`` (the first partition) do not exist. Raises ``ValueError`` naming ``month`` when
    it has no bars stored or no bar."""
    current = read_inputs(month)
    if current is None or current[0].empty:
        raise ValueError(f"sweep of {month}: no bar stored for {month}")
    inputs, walk, anchor, chain_start = {month: current}, [month], None, None
    while True:
        before = times.previous_month(walk[-1])
        if before < first_month:
            chain_start = "first"
            break
        got = read_inputs(before)
        if got is None:
            chain_start = f"no bars stored for {before}"
            break
        if got[0].empty:
            chain_start = f"{before} has no trading"
            break
        previous = read_sweep(before)
        if previous is not None and continues(previous, *got, run_id):
            anchor = previous
            break
        inputs[before] = got
        walk.append(before)
    starts_here = anchor is None and len(walk) == 1
    done: dict[str, pd.DataFrame] = {}
    reused = False
    for label in reversed(walk):
        bars, cache = inputs[label]
        previous_id = "" if anchor is None else anchor.attrs["run_id"]
        this_id = run_id(bars, cache, previous_id)
        stored_frame = read_sweep(label) if label == month else None
        reused = stored_frame is not None and stored.has_end_state(stored_frame) \
            and stored_frame.attrs.get("run_id") == this_id
        if not reused:
            start = None if anchor is None else start_states(anchor)
            stored_frame = run_month(label, bars, cache, start, this_id, previous_id)
        done[label] = anchor = stored_frame
    frame = done.pop(month)
    if starts_here:
        return MonthSweep(frame, reused, None, chain_start, done)
    return MonthSweep(frame, reused, times.previous_month(month), None, done)
