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
from typing import Any, NamedTuple, Protocol

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


class MonthRuns(Protocol):
    """The months of one chain of runs (one symbol; one timeframe's sweep, or the featured runs of
    every timeframe) as :func:`continue_month` walks them. A partition is a frame whose ``attrs``
    hold its ``run_id`` and the ``previous_run_id`` of the partition it continued."""

    def inputs(self, month: str) -> Any | None:
        """The month's inputs (bars and indicator caches), ``None`` when no bars are stored."""

    def empty(self, inputs: Any) -> bool:
        """Whether ``inputs`` hold no bar (no trading that month)."""

    def stored(self, month: str) -> pd.DataFrame | None:
        """The month's stored (or already computed) partition, or ``None``."""

    def carries(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` stores the end states its next month starts from."""

    def run_id(self, inputs: Any, previous_run_id: str) -> str:
        """The run id of a month (its inputs, the code, and the run id of the month it continues)."""

    def run(self, month: str, inputs: Any, previous: pd.DataFrame | None, run_id: str,
            previous_run_id: str) -> pd.DataFrame:
        """The month's partition, continuing the partition ``previous`` (None: a fresh start)."""


def continue_month(month: str, first_month: str, runs: MonthRuns, *, reuse: bool = True) -> MonthSweep:
    """The partition of ``month`` continuing the in-order chain of ``runs`` (module docstring);
    months before ``first_month`` (the first partition) do not exist. With ``reuse``, a stored
    partition of ``month`` with the run id this one would get is returned as it is. Raises
    ``ValueError`` naming ``month`` when it has no bars stored or no bar."""
    current = runs.inputs(month)
    if current is None or runs.empty(current):
        raise ValueError(f"runs of {month}: no bar stored for {month}")
    inputs, walk, anchor, chain_start = {month: current}, [month], None, None
    while True:
        before = times.previous_month(walk[-1])
        if before < first_month:
            chain_start = "first"
            break
        got = runs.inputs(before)
        if got is None:
            chain_start = f"no bars stored for {before}"
            break
        if runs.empty(got):
            chain_start = f"{before} has no trading"
            break
        previous = runs.stored(before)
        if previous is not None and _continues(runs, previous, got):
            anchor = previous
            break
        inputs[before] = got
        walk.append(before)
    starts_here = anchor is None and len(walk) == 1
    done: dict[str, pd.DataFrame] = {}
    reused = False
    for label in reversed(walk):
        previous_id = "" if anchor is None else anchor.attrs["run_id"]
        this_id = runs.run_id(inputs[label], previous_id)
        frame = runs.stored(label) if reuse and label == month else None
        reused = frame is not None and runs.carries(frame) and frame.attrs.get("run_id") == this_id
        if not reused:
            frame = runs.run(label, inputs[label], anchor, this_id, previous_id)
        done[label] = anchor = frame
    frame = done.pop(month)
    if starts_here:
        return MonthSweep(frame, reused, None, chain_start, done)
    return MonthSweep(frame, reused, times.previous_month(month), None, done)


def _continues(runs: MonthRuns, frame: pd.DataFrame, inputs: Any) -> bool:
    """Whether the stored partition ``frame`` is the one ``inputs`` give on top of the month it
    continued (so the next month may start from its end states)."""
    return runs.carries(frame) and frame.attrs.get("run_id") == runs.run_id(
        inputs, frame.attrs.get("previous_run_id", ""))


class _SweepMonths:
    """:class:`MonthRuns` of one timeframe's sweep, from the callables of :func:`chained_month_sweep`."""

    def __init__(self, read_inputs: ReadInputs, read_sweep: ReadSweep, run_id: RunId, run_month: RunMonth):
        self.inputs, self.stored = read_inputs, read_sweep
        self._run_id, self._run_month = run_id, run_month

    @staticmethod
    def empty(inputs: tuple[pd.DataFrame, pd.DataFrame]) -> bool:
        return inputs[0].empty

    @staticmethod
    def carries(frame: pd.DataFrame) -> bool:
        return stored.has_end_state(frame) and not months.is_empty(frame)

    def run_id(self, inputs: tuple[pd.DataFrame, pd.DataFrame], previous_run_id: str) -> str:
        return self._run_id(*inputs, previous_run_id)

    def run(self, month: str, inputs: tuple[pd.DataFrame, pd.DataFrame], previous: pd.DataFrame | None,
            run_id: str, previous_run_id: str) -> pd.DataFrame:
        start = None if previous is None else start_states(previous)
        return self._run_month(month, *inputs, start, run_id, previous_run_id)


def chained_month_sweep(month: str, first_month: str, read_inputs: ReadInputs, read_sweep: ReadSweep,
                        run_id: RunId, run_month: RunMonth) -> MonthSweep:
    """The sweep partition of ``month`` continuing the in-order chain (:func:`continue_month`):
    ``read_inputs`` gives a month's ``(bars, cache)``, ``read_sweep`` its stored partition,
    ``run_id``/``run_month`` make one; raises ``ValueError`` naming ``month`` when it has no bar."""
    return continue_month(month, first_month, _SweepMonths(read_inputs, read_sweep, run_id, run_month))
