"""Resampling 1-minute candles to the derived timeframes (docs/ARCHITECTURE.md, Data contracts).

Rules: ``open`` = first, ``high`` = max, ``low`` = min, ``close`` = last; ``volume``,
``quote_volume``, ``trades``, ``taker_buy_base`` and ``taker_buy_quote`` = sum. Bins are closed and
labelled on the left and aligned to the Unix epoch (1d bins start at 00:00 UTC, 4h bins at 00, 04,
… UTC). Empty bins are absent. ``minutes`` counts the 1m candles in a bin, ``filled_minutes`` how
many of them were gap-fill candles (``filled``), and ``complete`` is ``minutes == bin size``.

The input is either a raw_1m frame (one row per minute) or a derived OHLCV frame whose bar size
divides the target. An OHLCV frame's bar size is ``attrs["timeframe"]`` when present (``resample``
sets it on its output; pandas keeps it through slicing and Parquet), else inferred from the open
times and ``minutes`` (ambiguous tiny inputs are rejected rather than guessed). The input's
``minutes`` and ``filled_minutes`` are summed, so
``resample(resample(x, tf1), tf2)`` equals ``resample(x, tf2)``:

- exactly for ``open_time``, the prices, ``trades``, ``minutes``, ``filled_minutes`` and
  ``complete`` (first/last/max/min and integer sums do not depend on grouping);
- exactly for the float sums whenever adding the 1m amounts is exact, e.g. when they lie on a
  common binary grid with bin totals below 2**53 grid steps (true of ``synthetic`` data);
- otherwise to within float64 rounding of the sum (a few ulps): regrouping a float sum changes
  its last bits, and no order can make five rounded 3m sums and three rounded 5m sums always agree.

Float sums are accumulated in time order with ``np.add.reduceat``. Input values are taken as they
are (no NaN handling: the schemas forbid NaN).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx_core import times
from threadx_core.schema import (
    AMOUNT_COLUMNS,
    OHLCV_COLUMNS,
    PRICE_COLUMNS,
    RAW_1M_COLUMNS,
    validate_ohlcv,
)
from threadx_core.times import MINUTE_MS, open_time_from_ms, open_time_ms

_DAY_DIVISORS = tuple(d for d in range(1, times.MINUTES_PER_DAY + 1)
                      if times.MINUTES_PER_DAY % d == 0)


def resample(frame: pd.DataFrame, tf: str) -> pd.DataFrame:
    """Candles of timeframe ``tf`` (e.g. ``"1h"``) from a raw_1m frame or a finer OHLCV frame.

    ``frame`` must be sorted by ``open_time``. Returns a frame validated against ``schema.OHLCV``
    with a RangeIndex and ``attrs["timeframe"] == tf``. Raises ``ValueError`` naming ``tf`` when it
    is not a timeframe, when it is not a multiple of the input's bar size, or when that bar size
    cannot be established from an OHLCV input (or contradicts its declared timeframe).
    """
    return resample_all(frame, (tf,))[tf]


def resample_all(frame: pd.DataFrame, tfs: Iterable[str]) -> dict[str, pd.DataFrame]:
    """``{tf: resample(frame, tf)}`` for every ``tf`` in ``tfs``, sharing the column extraction.

    Each timeframe is aggregated directly from ``frame``, so the results are bit-for-bit those of
    ``resample`` (and thus of any other caller building one timeframe at a time).
    """
    candles = _Candles.of(frame)
    return {tf: _resample(candles, tf) for tf in tfs}


@dataclass(frozen=True)
class _Candles:
    """The input as numpy columns, with per-row ``minutes`` and ``filled_minutes``, and its bar
    size in minutes when known (1 for raw_1m, ``attrs["timeframe"]`` for OHLCV frames)."""

    ms: np.ndarray
    columns: dict[str, np.ndarray]
    bar_minutes: int | None

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Candles:
        names = set(frame.columns)
        is_1m = "minutes" not in names
        if not set(RAW_1M_COLUMNS if is_1m else OHLCV_COLUMNS) <= names:
            raise ValueError("resample: input is neither a raw_1m nor an OHLCV frame (columns "
                             f"{sorted(names)})")
        ms = open_time_ms(frame)
        if np.any(np.diff(ms) <= 0):
            raise ValueError("resample: input open_time must be strictly increasing")
        columns = {c: frame[c].to_numpy(np.float64) for c in (*PRICE_COLUMNS, *AMOUNT_COLUMNS)}
        columns["trades"] = frame["trades"].to_numpy(np.int64)
        if is_1m:
            columns["minutes"] = np.ones(len(frame), dtype=np.int64)
            columns["filled_minutes"] = frame["filled"].to_numpy(bool).astype(np.int64)
            return cls(ms, columns, 1)
        columns["minutes"] = frame["minutes"].to_numpy(np.int64)
        columns["filled_minutes"] = frame["filled_minutes"].to_numpy(np.int64)
        declared = frame.attrs.get("timeframe")
        return cls(ms, columns, None if declared is None else times.tf_minutes(declared))


def _resample(candles: _Candles, tf: str) -> pd.DataFrame:
    size = times.tf_minutes(tf)
    _check_bar_size(candles, tf, size)
    bin_ms = size * MINUTE_MS
    ids = candles.ms // bin_ms
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ids)) + 1)) if len(ids) else ids
    out = validate_ohlcv(_frame(ids[starts] * bin_ms, _aggregate(candles.columns, starts), size),
                         f"resample to {tf}")
    out.attrs = {"timeframe": tf}
    return out


def _aggregate(columns: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-bin values of the bins beginning at row indices ``starts`` (none when empty)."""
    if len(starts) == 0:
        return {c: v[:0] for c, v in columns.items()}
    last = np.append(starts[1:], len(columns["close"])) - 1
    sums = {c: np.add.reduceat(columns[c], starts)
            for c in (*AMOUNT_COLUMNS, "trades", "minutes", "filled_minutes")}
    return {"open": columns["open"][starts],
            "high": np.maximum.reduceat(columns["high"], starts),
            "low": np.minimum.reduceat(columns["low"], starts),
            "close": columns["close"][last], **sums}


def _frame(open_ms: np.ndarray, values: dict[str, np.ndarray], size: int) -> pd.DataFrame:
    """An OHLCV frame (exact column order and dtypes) from bin open times and per-bin values."""
    data = {"open_time": open_time_from_ms(open_ms),
            **{c: values[c] for c in OHLCV_COLUMNS[1:-1]},
            "complete": values["minutes"] == size}
    return pd.DataFrame(data)


def _check_bar_size(candles: _Candles, tf: str, size: int) -> None:
    """Raise unless each input bar lies inside one output bin of ``size`` minutes.

    An OHLCV bar of ``b`` minutes opens on a multiple of ``b`` and holds at most ``b`` 1m candles.
    When ``b`` is not declared, every divisor of the UTC day that divides each open minute and is
    at least the largest ``minutes`` is a possible ``b``; all of them must divide ``size``.
    """
    if candles.bar_minutes == 1 or (len(candles.ms) == 0 and candles.bar_minutes is None):
        return
    positions = candles.ms // MINUTE_MS % times.MINUTES_PER_DAY
    align = int(np.gcd.reduce(np.append(positions, times.MINUTES_PER_DAY)))
    longest = int(candles.columns["minutes"].max(initial=1))
    candidates = [d for d in _DAY_DIVISORS if align % d == 0 and d >= longest]
    if candles.bar_minutes is not None:
        if candles.bar_minutes not in candidates:
            raise ValueError(f"timeframe {tf!r}: the input declares {candles.bar_minutes}-minute "
                             f"bars but they open on multiples of {align} minutes and hold up to "
                             f"{longest} minutes")
        candidates = [candles.bar_minutes]
    fitting = [d for d in candidates if size % d == 0]
    if candidates and len(fitting) == len(candidates):
        return
    if candidates and not fitting:
        raise ValueError(f"timeframe {tf!r} ({size} minutes) is not a multiple of the input's "
                         f"bar size ({' or '.join(map(str, candidates))} minutes)")
    raise ValueError(f"timeframe {tf!r}: the input's bar size cannot be established (bars open on "
                     f"multiples of {align} minutes and hold up to {longest} minutes)")
