"""Featured backtests of one symbol-month: the reference engine on the cached indicators.

Each featured parameter set runs on each timeframe's bars of the month, with the indicators from
that month's cache (warmed up on the previous month), so the first bars of a month can trade.
Like a sweep month (:mod:`threadx_core.sweep.chained`), a featured month continues the previous
month's runs: each starts from the state it ended the previous month in (the report's
``attrs[END_STATES]``), and a position open at the month's end stays open, marked to market, in
the end state the next month starts from. :mod:`.best_by_run` re-runs the month's selection the
same way (:func:`cached_backtest`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from threadx_core.engine import Params, Result, backtest, carry
from threadx_core.engine.backtest import trades_frame as trades_table
from threadx_core.engine.nb import LOG_COLUMNS
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.indicators.cache import atr_column, bb_columns
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.present.plots import equity_drawdown_png
from threadx_core.present.price import price_png

#: The typed frames of no run: an empty month's equity and trades.
NO_EQUITY = pd.DataFrame({"open_time": pd.Series(dtype="datetime64[ms, UTC]"), "run": pd.Series(dtype=object),
                          "timeframe": pd.Series(dtype=object), "equity": pd.Series(dtype=np.float64),
                          "position": pd.Series(dtype=np.float64), "drawdown": pd.Series(dtype=np.float64)})
NO_TRADES = trades_table(np.empty((0, len(LOG_COLUMNS))), pd.DatetimeIndex([], tz="UTC")).assign(
    run=pd.Series(dtype=object), timeframe=pd.Series(dtype=object))


@dataclass(frozen=True)
class FeaturedReport:
    """``equity`` (long: open_time, run, timeframe, equity, position, drawdown), ``trades`` (long,
    with run and timeframe), ``metrics`` (one row per run), an equity + drawdown ``png`` and
    ``headline``: per timeframe, the bars and the result of the first featured set, whose price
    chart :meth:`price_pngs` draws."""

    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: pd.DataFrame
    png: bytes
    headline: dict[str, tuple[pd.DataFrame, Result]]

    def price_pngs(self, title: str) -> dict[str, bytes]:
        """Per timeframe, the price chart of the first featured set (:mod:`threadx_core.present.price`):
        one chart per timeframe, not per run, keeps the event log small, and the first set is the
        headline one of ``[report] featured``. Drawn on demand: a month re-run only to continue
        from its end needs none."""
        return {tf: price_png(ohlcv, result, f"{title} {run_label(result.params, tf)}")
                for tf, (ohlcv, result) in self.headline.items()}


def run_label(params: Params, tf: str) -> str:
    """Short label of one run, e.g. ``1h bb20×2.0 atr14w×1.5``."""
    return (f"{tf} bb{params.bb_period}×{params.bb_std:g} "
            f"atr{params.atr_period}{params.atr_method[0]}×{params.atr_mult:g}")


#: The ``attrs`` key of a report's ``equity`` frame holding each run's end state: a JSON object
#: run label → the :data:`threadx_core.engine.carry.COLUMNS` values.
END_STATES = "end_states"


def featured_question(featured_params: list[Params]) -> str:
    """The featured sets as the question part of a featured month's run id."""
    return json.dumps([params.to_dict() for params in featured_params], sort_keys=True)


def starts_after(previous: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Run label → the state a run starts from after the report ``equity`` frame ``previous`` of
    the month before (its end state, as a new window: :func:`carry.window_start`); empty when
    there is no such month or it stores no end state."""
    if previous is None or END_STATES not in previous.attrs:
        return {}
    ends = json.loads(previous.attrs[END_STATES])
    if not ends:
        return {}
    rows = carry.window_start(np.array(list(ends.values()), dtype=np.float64))
    frame = carry.to_frame(rows)
    return {label: frame.iloc[i] for i, label in enumerate(ends)}


def featured(bars: dict[str, pd.DataFrame], caches: dict[str, pd.DataFrame],
             featured_params: list[Params], title: str,
             previous: pd.DataFrame | None = None) -> FeaturedReport:
    """Backtest every ``featured_params`` set on every timeframe of ``bars`` (``{tf: ohlcv}``),
    using ``caches`` (``{tf: indicator cache}``, same rows), each from the state it ended the
    month before in (``previous``: that month's report ``equity`` frame; None or a run it lacks:
    a fresh start), nothing closed at the end; ``equity.attrs[END_STATES]`` holds the end states.
    A timeframe without bars (an empty month: no trading) has no run: an empty month's report has
    no row in ``equity``, ``trades`` (typed, :data:`engine.TRADE_COLUMNS` + run, timeframe) and
    ``metrics``, no end state and no chart (``b""``)."""
    curves, equities, trades, rows, ends, headline = {}, [], [], [], {}, {}
    starts = starts_after(previous)
    for tf, ohlcv in bars.items():
        if ohlcv.empty:
            continue  # the engine needs a bar; a month without any has nothing to run
        for params in featured_params:
            label = run_label(params, tf)
            result = cached_backtest(ohlcv, caches[tf], params, start=starts.get(label), close_at_end=False)
            ends[label] = [float(v) for v in result.end_state.to_numpy(np.float64)]
            headline.setdefault(tf, (ohlcv, result))
            curves[label] = result.equity
            equities.append(pd.DataFrame({
                "open_time": result.equity.index, "run": label, "timeframe": tf,
                "equity": result.equity.to_numpy(), "position": result.position.to_numpy(),
                "drawdown": (result.equity / result.equity.cummax() - 1.0).to_numpy()}))
            trades.append(result.trades.assign(run=label, timeframe=tf))
            rows.append({"run": label, "timeframe": tf, **result.metrics})
    table = pd.DataFrame(rows, columns=None if rows else ["run", "timeframe", *OUTPUT_KEYS])
    equity = pd.concat(equities or [NO_EQUITY], ignore_index=True)
    if ends:
        equity.attrs[END_STATES] = json.dumps(ends)
    return FeaturedReport(equity, trades_frame(trades or [NO_TRADES]), table,
                          equity_drawdown_png(curves, title) if curves else b"", headline)


def cached_backtest(ohlcv: pd.DataFrame, cache: pd.DataFrame, params: Params, *,
                    start: pd.Series | None = None, close_at_end: bool = True) -> Result:
    """The reference engine on ``ohlcv`` with ``params``' windows taken from ``cache`` (the
    indicator cache of the same bars) instead of being computed on the bars alone; ``start`` and
    ``close_at_end`` as :func:`threadx_core.engine.backtest` takes them."""
    mid, sigma = bb_columns(params.bb_period)
    return backtest(ohlcv, params, precomputed=(
        cache[mid].to_numpy(), cache[sigma].to_numpy(),
        cache[atr_column(params.atr_period, params.atr_method)].to_numpy()),
        start=start, close_at_end=close_at_end)


def row_params(row: Mapping[str, Any]) -> Params:
    """The ``Params`` of a sweep, ranking or walk-forward row (its ``Params`` columns)."""
    return Params(**{column: row[column] for column in PARAM_NAMES})


def trades_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Engine trade frames (each with its ``run`` and ``timeframe``) as one, ``side`` and
    ``exit_reason`` as strings."""
    frames = [f.astype({"side": str, "exit_reason": str}) for f in frames]
    return pd.concat(frames, ignore_index=True)
