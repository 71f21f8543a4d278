"""The best combinations of one symbol-month across its sweep timeframes, and its selection.

The rows of every sweep timeframe are ranked together by ``objective`` (:mod:`.selection`: the
``min_trades`` filter, metric directions and tie-breaks of docs/ARCHITECTURE.md, Selection and
research), next to the Pareto front of total return vs max drawdown; the run id names the
sweeps' run ids. Rank 1, when a row passes the filter, is the month's selection:
:func:`selection_run` re-runs it with the reference engine on the bars and indicator cache it was
swept on, which must reproduce its stored result, and gives its trades, equity chart and exports.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from threadx_core.engine import Result
from threadx_core.metrics import OUTPUT_KEYS
from threadx_core.present.plots import equity_drawdown_png, objective_pngs, pareto_png
from threadx_core.present.price import price_png
from threadx_core.present.tables import json_ready
from threadx_core.research import provenance, selection
from threadx_core.research.featured import cached_backtest, row_params, run_label, trades_frame
from threadx_core.sweep import chained

#: Every export of a month's best-by-run starts with this (its report folder holds other exports).
EXPORT_PREFIX = "best_by_run"


@dataclass(frozen=True)
class SelectionRun:
    """One sweep row re-run by the reference engine: ``result`` (the engine's), ``trades``
    (:data:`engine.TRADE_COLUMNS` with ``side``/``exit_reason`` as strings, plus ``run`` and
    ``timeframe``), ``selection`` (JSON-ready: timeframe, run label, parameters, the row's stored
    metrics, run id, objective and its value), ``png`` (equity + drawdown) and ``price_png`` (the
    month's price with the run's trades, bands and stop: :mod:`threadx_core.present.price`)."""

    result: Result
    trades: pd.DataFrame
    selection: dict[str, Any]
    png: bytes
    price_png: bytes

    def files(self) -> dict[str, bytes]:
        """The data exports by file name: ``trades.csv`` and ``trades.parquet`` (the same
        trades) and ``selection.json`` (the charts are left to the caller's)."""
        parquet = io.BytesIO()
        self.trades.to_parquet(parquet, index=False)
        return {"trades.csv": self.trades.to_csv(index=False).encode(), "trades.parquet": parquet.getvalue(),
                "selection.json": json.dumps(self.selection, indent=2).encode()}


def selection_run(row: Mapping[str, Any], ohlcv: pd.DataFrame, cache: pd.DataFrame, *, objective: str,
                  title: str, rtol: float = 1e-9, start: pd.Series | None = None) -> SelectionRun:
    """Re-run ``row`` (a sweep row of ``row["timeframe"]``, e.g. rank 1 of a ranking, with
    ``run_id``) on the bars ``ohlcv`` and indicator ``cache`` it was swept on, as the featured runs
    are run (:func:`.featured.cached_backtest`), from the state ``start`` the sweep started the
    combination from (:func:`threadx_core.sweep.chained.start_of`; None: a fresh start), nothing
    closed at the end (the month is a window of a continuing run, as in the sweep).

    The sweep kernel is the engine, so the run must give the row's ``n_trades`` exactly and its
    ``final_equity`` within ``rtol`` (relative); otherwise raises ``ValueError`` naming ``title``
    (e.g. symbol and month), the timeframe, the parameters and both results. Non-finite metrics
    are ``null`` in ``selection``."""
    params, tf = row_params(row), str(row["timeframe"])
    result = cached_backtest(ohlcv, cache, params, start=start, close_at_end=False)
    stored = (int(row["n_trades"]), float(row["final_equity"]))
    rerun = (int(result.metrics["n_trades"]), float(result.metrics["final_equity"]))
    if rerun[0] != stored[0] or not math.isclose(rerun[1], stored[1], rel_tol=rtol, abs_tol=0.0):
        raise ValueError(f"{title} {tf}: the reference engine does not reproduce the sweep row of "
                         f"parameters {params.to_dict()}: {rerun[0]} trades, final equity {rerun[1]!r} "
                         f"re-run vs {stored[0]} trades, final equity {stored[1]!r} stored")
    label = run_label(params, tf)
    chosen = json_ready({"timeframe": tf, "run": label, "run_id": row["run_id"], "objective": objective,
                         "objective_value": row[objective], "parameters": params.to_dict(),
                         "metrics": {key: row[key] for key in OUTPUT_KEYS}})
    return SelectionRun(result, trades_frame([result.trades.assign(run=label, timeframe=tf)]), chosen,
                        equity_drawdown_png({label: result.equity}, f"{title}: selection {label}"),
                        price_png(ohlcv, result, f"{title}: selection {label}"))


@dataclass(frozen=True)
class BestByRun:
    """``top`` (the ``top_k`` best rows, with ``rank`` and the ``run_id`` column), ``front`` (the
    Pareto front of the eligible rows), how many rows were ``candidates`` and how many passed the
    ``min_trades`` filter (``eligible``), the ``run_id``, the ``charts`` (name → PNG: the Pareto
    chart; with a selection also the objective's heatmap and distribution, the selection's
    equity and its price with trades, ``selection_price``) and the ``selection`` re-run (``None``
    when no row passes the filter)."""

    top: pd.DataFrame
    front: pd.DataFrame
    candidates: int
    eligible: int
    run_id: str
    charts: dict[str, bytes]
    selection: SelectionRun | None

    def files(self) -> dict[str, bytes]:
        """The exports by file name, every one starting with :data:`EXPORT_PREFIX`: the
        selection's data (``best_by_run_trades.csv``/``.parquet``, ``best_by_run_selection.json``)
        when there is one, the top rows (``best_by_run.csv``) and every chart
        (``best_by_run_<chart>.png``)."""
        files = ({f"{EXPORT_PREFIX}_{name}": data for name, data in self.selection.files().items()}
                 if self.selection is not None else {})
        files[f"{EXPORT_PREFIX}.csv"] = self.top.to_csv(index=False).encode()
        files.update({f"{EXPORT_PREFIX}_{name}.png": png for name, png in self.charts.items()})
        return files


def best_by_run(sweeps: Mapping[str, pd.DataFrame], bars: Mapping[str, pd.DataFrame],
                caches: Mapping[str, pd.DataFrame], *, objective: str, min_trades: int, top_k: int,
                title: str, previous: Mapping[str, pd.DataFrame | None] | None = None) -> BestByRun:
    """The best of the month's ``sweeps`` (``{tf: sweep partition}``, in timeframe order) by
    ``objective``, and rank 1 re-run on ``bars[tf]`` and ``caches[tf]`` from the state its sweep
    started it from, found in ``previous[tf]`` (the sweep partition of the month before, ``None``
    or absent where there is none) (:func:`selection_run`, which raises ``ValueError`` when the
    engine does not reproduce it). ``title`` (e.g. symbol and month) names the charts and errors."""
    frames = list(sweeps.values())
    results = pd.concat([s.drop(columns="daily_returns") for s in frames], ignore_index=True)
    top, front = selection.best(results, objective, min_trades=min_trades, top_k=top_k)
    run_id = provenance.run_id("|".join(s.attrs.get("run_id", "") for s in frames), [], "")
    top = top.assign(run_id=run_id)
    eligible = results[results["n_trades"] >= min_trades]
    charts = {"pareto_chart": pareto_png(eligible, front, f"{title}: total return vs max drawdown")}
    rerun = None
    if len(top):
        charts.update(objective_pngs(eligible, top[objective].iloc[0], objective, title))
        tf = top["timeframe"].iloc[0]
        try:
            start = chained.start_of(sweeps[tf], (previous or {}).get(tf), top.iloc[0])
        except ValueError as exc:
            raise ValueError(f"{title} {tf}: cannot re-run the selection: {exc}") from None
        rerun = selection_run(top.iloc[0], bars[tf], caches[tf], objective=objective, title=title,
                              start=start)
        charts["selection_equity"] = rerun.png
        charts["selection_price"] = rerun.price_png
    return BestByRun(top, front, len(results), len(eligible), run_id, charts, rerun)
