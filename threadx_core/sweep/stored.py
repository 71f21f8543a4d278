"""A sweep partition as one frame: parameters, metrics and daily returns per combination.

Columns: every ``Params`` field, every metric (``metrics.OUTPUT_KEYS``), ``timeframe``,
``daily_returns`` (a list of float64 per row: r_k = E(end of day k)/E(end of day k−1) − 1, UTC
days, the first relative to the equity the window started from), and the combination's end
state, each column of :data:`threadx_core.engine.carry.COLUMNS` prefixed :data:`CARRY_PREFIX`
(where the next month starts). ``attrs``: ``days`` (JSON list of the ISO dates the returns
belong to), ``run_id``, ``devices`` and ``previous_run_id`` (the run id of the month this one
continued, ``""`` at the start of a chain). Months can then be chained without re-running
anything: concatenate the daily returns of consecutive partitions and add up their trade
accumulators (:mod:`threadx_core.research.chain`).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from threadx_core.engine import carry
from threadx_core.sweep.run import SweepOutput

#: Prefix of the end-state columns of a stored partition.
CARRY_PREFIX = "carry_"
#: The end-state columns of a stored partition, in :data:`carry.COLUMNS` order.
CARRY_COLUMNS = tuple(CARRY_PREFIX + name for name in carry.COLUMNS)


def to_frame(output: SweepOutput, timeframe: str, run_id: str, previous_run_id: str = "") -> pd.DataFrame:
    """The stored form of ``output`` (``previous_run_id``: the run id of the month it continued)."""
    frame = output.results.copy()
    frame.insert(0, "timeframe", timeframe)
    daily = output.daily.to_numpy(np.float64)
    frame["daily_returns"] = [np.ascontiguousarray(daily[:, i]) for i in range(daily.shape[1])]
    end = output.end_state
    for name in carry.COLUMNS:
        frame[CARRY_PREFIX + name] = end[name].to_numpy()
    if previous_run_id and len(frame):
        # a window continuing another counts that window's last equity as a sample of its own
        # (carry.window_start): the share of its bars in a position is over its own bars
        frame["exposure"] = end["tr_held"].to_numpy() / (end["eq_bars"].to_numpy() - carry.SEEDED_BARS)
    frame.attrs = {"days": json.dumps([d.strftime("%Y-%m-%d") for d in output.daily.index]),
                   "run_id": run_id, "devices": ",".join(output.devices),
                   "previous_run_id": previous_run_id}
    return frame


def has_end_state(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` stores its combinations' end states (partitions of older code do not)."""
    return all(column in frame.columns for column in CARRY_COLUMNS)


def end_state(frame: pd.DataFrame) -> pd.DataFrame:
    """The end states of a stored partition as a :mod:`carry` frame (one row per combination,
    in the partition's row order), where the next month of the same runs starts."""
    out = frame[list(CARRY_COLUMNS)].reset_index(drop=True)
    out.columns = list(carry.COLUMNS)
    return out


def daily_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Days × combinations matrix of a stored partition (index: UTC days; columns: row labels)."""
    days = pd.DatetimeIndex(json.loads(frame.attrs["days"]), tz="UTC", name="day")
    values = np.vstack(frame["daily_returns"].to_list()).T if len(frame) else np.empty((len(days), 0))
    return pd.DataFrame(values.reshape(len(days), len(frame)), index=days, columns=frame.index)
