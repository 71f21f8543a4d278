"""A sweep partition as one frame: parameters, metrics and daily returns per combination.

Columns: every ``Params`` field, every metric (``metrics.OUTPUT_KEYS``), ``timeframe``, and
``daily_returns`` (a list of float64 per row: r_k = E(end of day k)/E(end of day k−1) − 1, UTC
days, the first relative to the initial capital). ``attrs``: ``days`` (JSON list of the ISO
dates the returns belong to), ``run_id``, ``devices``. Months can then be chained without
re-running anything: concatenate the daily returns of consecutive partitions.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from threadx_core.sweep.run import SweepOutput


def to_frame(output: SweepOutput, timeframe: str, run_id: str) -> pd.DataFrame:
    """The stored form of ``output``."""
    frame = output.results.copy()
    frame.insert(0, "timeframe", timeframe)
    daily = output.daily.to_numpy(np.float64)
    frame["daily_returns"] = [np.ascontiguousarray(daily[:, i]) for i in range(daily.shape[1])]
    frame.attrs = {"days": json.dumps([d.strftime("%Y-%m-%d") for d in output.daily.index]),
                   "run_id": run_id, "devices": ",".join(output.devices)}
    return frame


def daily_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Days × combinations matrix of a stored partition (index: UTC days; columns: row labels)."""
    days = pd.DatetimeIndex(json.loads(frame.attrs["days"]), tz="UTC", name="day")
    values = np.vstack(frame["daily_returns"].to_list()).T if len(frame) else np.empty((len(days), 0))
    return pd.DataFrame(values.reshape(len(days), len(frame)), index=days, columns=frame.index)
