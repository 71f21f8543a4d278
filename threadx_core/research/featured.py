"""Featured backtests and the selection of one symbol-month: the reference engine on the cached
indicators.

Each featured parameter set runs on each timeframe's bars of the month, with the indicators from
that month's cache (warmed up on the previous month), so the first bars of a month can trade.
The window is the month: a position still open at its end is closed at the last close.
:func:`selection_run` re-runs one sweep row (the month's selection) the same way, checks that it
gives the row's stored result, and returns its trades, equity chart and exports.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from threadx_core.engine import Params, Result, backtest
from threadx_core.engine.params import PARAM_NAMES
from threadx_core.indicators.cache import atr_column, bb_columns
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.present.plots import equity_drawdown_png


@dataclass(frozen=True)
class FeaturedReport:
    """``equity`` (long: open_time, run, timeframe, equity, position, drawdown), ``trades`` (long,
    with run and timeframe), ``metrics`` (one row per run) and an equity + drawdown ``png``."""

    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: pd.DataFrame
    png: bytes


def run_label(params: Params, tf: str) -> str:
    """Short label of one run, e.g. ``1h bb20×2.0 atr14w×1.5``."""
    return (f"{tf} bb{params.bb_period}×{params.bb_std:g} "
            f"atr{params.atr_period}{params.atr_method[0]}×{params.atr_mult:g}")


def featured(bars: dict[str, pd.DataFrame], caches: dict[str, pd.DataFrame],
             featured_params: list[Params], title: str) -> FeaturedReport:
    """Backtest every ``featured_params`` set on every timeframe of ``bars`` (``{tf: ohlcv}``),
    using ``caches`` (``{tf: indicator cache}``, same rows)."""
    curves, equities, trades, rows = {}, [], [], []
    for tf, ohlcv in bars.items():
        for params in featured_params:
            result = cached_backtest(ohlcv, caches[tf], params)
            label = run_label(params, tf)
            curves[label] = result.equity
            equities.append(pd.DataFrame({
                "open_time": result.equity.index, "run": label, "timeframe": tf,
                "equity": result.equity.to_numpy(), "position": result.position.to_numpy(),
                "drawdown": (result.equity / result.equity.cummax() - 1.0).to_numpy()}))
            trades.append(result.trades.assign(run=label, timeframe=tf))
            rows.append({"run": label, "timeframe": tf, **result.metrics})
    table = pd.DataFrame(rows)
    return FeaturedReport(pd.concat(equities, ignore_index=True), _trades(trades), table,
                          equity_drawdown_png(curves, title))


def cached_backtest(ohlcv: pd.DataFrame, cache: pd.DataFrame, params: Params) -> Result:
    """The reference engine on ``ohlcv`` with ``params``' windows taken from ``cache`` (the
    indicator cache of the same bars) instead of being computed on the bars alone."""
    mid, sigma = bb_columns(params.bb_period)
    return backtest(ohlcv, params, precomputed=(
        cache[mid].to_numpy(), cache[sigma].to_numpy(),
        cache[atr_column(params.atr_period, params.atr_method)].to_numpy()))


def row_params(row: Mapping[str, Any]) -> Params:
    """The ``Params`` of a sweep, ranking or walk-forward row (its ``Params`` columns)."""
    return Params(**{column: row[column] for column in PARAM_NAMES})


@dataclass(frozen=True)
class SelectionRun:
    """One sweep row re-run by the reference engine: ``result`` (the engine's), ``trades``
    (:data:`engine.TRADE_COLUMNS` with ``side``/``exit_reason`` as strings, plus ``run`` and
    ``timeframe``), ``selection`` (JSON-ready: timeframe, run label, parameters, the row's stored
    metrics, run id, objective and its value) and ``png`` (equity + drawdown)."""

    result: Result
    trades: pd.DataFrame
    selection: dict[str, Any]
    png: bytes

    def files(self) -> dict[str, bytes]:
        """The data exports by file name: ``trades.csv`` and ``trades.parquet`` (the same
        trades) and ``selection.json`` (``png`` is left to the caller's charts)."""
        parquet = io.BytesIO()
        self.trades.to_parquet(parquet, index=False)
        return {"trades.csv": self.trades.to_csv(index=False).encode(), "trades.parquet": parquet.getvalue(),
                "selection.json": json.dumps(self.selection, indent=2).encode()}


def selection_run(row: Mapping[str, Any], ohlcv: pd.DataFrame, cache: pd.DataFrame, *, objective: str,
                  title: str, rtol: float = 1e-9) -> SelectionRun:
    """Re-run ``row`` (a sweep row of ``row["timeframe"]``, e.g. rank 1 of a ranking, with
    ``run_id``) on the bars ``ohlcv`` and indicator ``cache`` it was swept on, as :func:`featured`
    runs.

    The sweep kernel is the engine, so the run must give the row's ``n_trades`` exactly and its
    ``final_equity`` within ``rtol`` (relative); otherwise raises ``ValueError`` naming ``title``
    (e.g. symbol and month), the timeframe, the parameters and both results. Non-finite metrics
    are ``null`` in ``selection``."""
    params, tf = row_params(row), str(row["timeframe"])
    result = cached_backtest(ohlcv, cache, params)
    stored = (int(row["n_trades"]), float(row["final_equity"]))
    rerun = (int(result.metrics["n_trades"]), float(result.metrics["final_equity"]))
    if rerun[0] != stored[0] or not math.isclose(rerun[1], stored[1], rel_tol=rtol, abs_tol=0.0):
        raise ValueError(f"{title} {tf}: the reference engine does not reproduce the sweep row of "
                         f"parameters {params.to_dict()}: {rerun[0]} trades, final equity {rerun[1]!r} "
                         f"re-run vs {stored[0]} trades, final equity {stored[1]!r} stored")
    label = run_label(params, tf)
    selection = json_ready({"timeframe": tf, "run": label, "run_id": row["run_id"], "objective": objective,
                            "objective_value": row[objective], "parameters": params.to_dict(),
                            "metrics": {key: row[key] for key in OUTPUT_KEYS}})
    return SelectionRun(result, _trades([result.trades.assign(run=label, timeframe=tf)]), selection,
                        equity_drawdown_png({label: result.equity}, f"{title}: selection {label}"))


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON data: mappings and sequences recursively, numpy scalars as plain
    bool/int/float, non-finite floats (NaN, ±inf: e.g. a profit factor without loss) as ``None``,
    timestamps and anything else not JSON-native as ``str``."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if value is None or isinstance(value, str | bool | np.bool_):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return str(value)


def _trades(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f.astype({"side": str, "exit_reason": str}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def markdown_table(table: pd.DataFrame, columns: tuple[str, ...] = (
        "run", "n_trades", "total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor",
        "fees_paid", "final_equity"), label: str = "run") -> str:
    """``columns`` of ``table`` as Markdown, floats to 4 significant digits (``label`` as is)."""
    shown = table[[c for c in columns if c in table]].copy()
    for column in shown.columns.drop(label):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    rows = ("| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False))
    return header + "\n".join(rows)

