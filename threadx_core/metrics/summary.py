""":func:`summarize`: every metric of one run from its equity curve and trades (docs/ARCHITECTURE.md,
Metrics), computed by the streaming accumulators of :mod:`threadx_core.metrics.nb` — the very code
the sweep kernels run, so a sweep row is bitwise this summary on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from threadx_core.metrics.nb import INT_KEYS, OUTPUT_KEYS, summarize_nb
from threadx_core.times import MINUTES_PER_YEAR


def _span_minutes(equity: object, bar_minutes: float) -> float:
    """Calendar span of the curve in minutes: from the index when it holds times (gaps count),
    else bars·bar minutes; both include the last bar."""
    index = getattr(equity, "index", None)
    if isinstance(index, pd.DatetimeIndex) and len(index):
        return (index[-1] - index[0]).total_seconds() / 60.0 + bar_minutes
    return len(np.asarray(equity)) * bar_minutes


def summarize(equity: object, trades: pd.DataFrame | None, bar_minutes: float,
              start_equity: float | None = None) -> dict[str, Any]:
    """Every metric (:data:`OUTPUT_KEYS`) of a run.

    ``start_equity``: the run is a window that continues an earlier one, whose last equity this
    is: the curve is then read as starting from it (the window's first return is its first bar's,
    ``total_return`` its growth, the drawdown measured from it), as a sweep month continuing the
    previous one computes it (:func:`threadx_core.engine.carry.window_start`); exposure stays over
    the window's own bars.

    ``equity``: per-bar marked-to-market equity (Series with a DatetimeIndex — the calendar span
    then comes from it — or an array); ``trades``: a frame with ``pnl``, ``fees``, ``qty``,
    ``entry_price``, ``exit_price``, ``entry_bar``, ``exit_bar`` (as :func:`engine.backtest`
    returns; None or empty for no trade); ``bar_minutes``: bar size (P = 525 600/bar_minutes).
    The equity metrics are those of :mod:`threadx_core.metrics.returns` over the per-bar returns
    (CAGR over the calendar span), the trade metrics those of :mod:`threadx_core.metrics.trades`,
    with their degenerate-case rules; besides: max_drawdown_duration is in bars; exposure =
    Σ(exit_bar − entry_bar)/bars (the share of bar closes marked in a position); turnover = Σ
    traded notional (entry + exit) / E_0; no trade → n_trades 0, fees_paid, turnover, exposure
    0.0, largest win/loss NaN. Raises ``ValueError`` on an empty curve or ``bar_minutes ≤ 0``.
    """
    e = np.ascontiguousarray(np.asarray(equity, dtype=np.float64))
    if e.size == 0:
        raise ValueError("summarize needs at least one equity value")
    if not bar_minutes > 0:
        raise ValueError(f"bar_minutes must be > 0, got {bar_minutes!r}")
    out = np.empty(len(OUTPUT_KEYS))
    span, columns = _span_minutes(equity, bar_minutes), _trade_columns(trades)
    if start_equity is not None:
        e = np.concatenate([[float(start_equity)], e])
    summarize_nb(out, e, *columns, MINUTES_PER_YEAR / bar_minutes, span)
    if start_equity is not None:
        out[OUTPUT_KEYS.index("exposure")] = columns[3].sum() / (e.size - 1)
    result: dict[str, Any] = {}
    for key, value in zip(OUTPUT_KEYS, out.tolist(), strict=True):
        result[key] = int(value) if key in INT_KEYS else value
    result["cagr_short_window"] = bool(result["cagr_short_window"])
    return result


def _trade_columns(trades: pd.DataFrame | None) -> tuple[np.ndarray, ...]:
    """(pnl, fees, traded notional, bars held) of each trade, in order."""
    if trades is None or len(trades) == 0:
        empty = np.empty(0)
        return empty, empty, empty, np.empty(0, dtype=np.int64)
    qty = trades["qty"].to_numpy(np.float64)
    notional = qty * trades["entry_price"].to_numpy(np.float64) + qty * trades[
        "exit_price"].to_numpy(np.float64)
    held = trades["exit_bar"].to_numpy(np.int64) - trades["entry_bar"].to_numpy(np.int64)
    return (np.ascontiguousarray(trades["pnl"].to_numpy(np.float64)),
            np.ascontiguousarray(trades["fees"].to_numpy(np.float64)),
            np.ascontiguousarray(notional), np.ascontiguousarray(held))
