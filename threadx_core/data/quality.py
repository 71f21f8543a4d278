"""Data-quality checks behind the asset checks (docs/ARCHITECTURE.md, Data contracts), as plain functions.

Each returns a ``CheckOutcome``: whether it passed, a one-line description a person can act on,
and metadata (counts, first offending times). They never raise on bad data: reporting it is
their job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from threadx_core import schema, times
from threadx_core.data.gaps import Gaps
from threadx_core.data.resample import resample


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one check: ``passed``, a human ``description`` and JSON-able ``metadata``."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def schema_valid(frame: pd.DataFrame, kind: str, where: str) -> CheckOutcome:
    """The frame satisfies the pandera schema ``kind`` (``raw_1m`` or ``ohlcv``): dtypes, positive
    prices, non-negative amounts and OHLC coherence (low ≤ min(open, close) ≤ max(open, close) ≤ high)."""
    validate = schema.validate_raw_1m if kind == "raw_1m" else schema.validate_ohlcv
    try:
        validate(frame, where)
    except ValueError as exc:
        return CheckOutcome(False, str(exc), {"rows": len(frame)})
    return CheckOutcome(True, f"{len(frame)} rows satisfy the {kind} schema", {"rows": len(frame)})


def unique_sorted(frame: pd.DataFrame) -> CheckOutcome:
    """``open_time`` is strictly increasing: no duplicate and no out-of-order candle."""
    ms = times.open_time_ms(frame)
    bad = np.flatnonzero(np.diff(ms) <= 0)
    meta = {"rows": len(frame), "violations": len(bad)}
    if len(bad):
        first = frame["open_time"].iloc[bad[0] + 1]
        return CheckOutcome(False, f"{len(bad)} duplicate or out-of-order candles, first at {first}",
                            {**meta, "first_violation": str(first)})
    return CheckOutcome(True, "open_time strictly increasing", meta)


def completeness(gaps: Gaps, threshold: float, show: int = 5) -> CheckOutcome:
    """Present minutes / expected minutes ≥ ``threshold`` (a warning, not an error: exchanges
    have real outages)."""
    meta = {"ratio": round(gaps.ratio, 6), "missing_minutes": gaps.missing,
            "expected_minutes": gaps.expected, "gap_ranges": len(gaps.ranges),
            "first_gaps": gaps.describe(show)}
    ok = gaps.ratio >= threshold
    verdict = "at or above" if ok else "below"
    return CheckOutcome(ok, f"completeness {gaps.ratio:.4%} {verdict} the {threshold:.2%} threshold", meta)


def resample_consistency(raw_1m: pd.DataFrame, built: pd.DataFrame, tf: str) -> CheckOutcome:
    """``tf`` rebuilt from the next finer derived timeframe equals ``built`` (made from 1m).

    The finer timeframe is the largest one of ``times.DERIVED`` that divides ``tf``
    (1m itself when none does), so the check exercises the "tf₂ from tf₁ = tf₂ from 1m" rule.
    """
    size = times.tf_minutes(tf)
    finer = [t for t in times.DERIVED
             if times.tf_minutes(t) < size and size % times.tf_minutes(t) == 0]
    via = finer[-1] if finer else "1m"
    rebuilt = resample(resample(raw_1m, via), tf) if finer else resample(raw_1m, tf)
    meta = {"rebuilt_from": via, "bins": len(built)}
    try:
        pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), built.reset_index(drop=True),
                                      check_exact=False, rtol=1e-12)
    except AssertionError as exc:
        return CheckOutcome(False, f"{tf} rebuilt from {via} differs from {tf} built from 1m: {exc}", meta)
    return CheckOutcome(True, f"{tf} rebuilt from {via} equals {tf} built from 1m", meta)
