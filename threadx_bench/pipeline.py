"""The whole graph, S symbols × M months, four ways side by side in one run (``threadx bench pipeline``).

Cases, each in a fresh temporary project folder, warehouse and ``DAGSTER_HOME`` (never the user's):

* ``core``: the assets' computations through ``threadx_core`` alone (:func:`core_work`), in this
  process: ingest from the synthetic source, schema and quality checks, resampling, indicator
  caches, sweeps, ``best_by_run`` with its exports, the featured backtests, the walk-forward and
  full-period reports; timed without the disk, whose partitions and exports are written afterwards
  (untimed, ``write_seconds``) so the warehouse can be compared with the others;
* ``in_process``: a native backfill of the whole graph (``threadx_pipeline.runs``) driven by this
  process as ``threadx backfill`` drives it when no daemon runs, ``[execution] executor =
  "in_process"``; seconds from the backfill's submission to its end;
* ``daemon``: the same backfill run by a real ``dagster-daemon run`` subprocess (started and healthy
  before the submission); its backfill daemon ticks every 30 s, fixed in Dagster: the backfill
  starts on a tick, each of its two layers takes at least one, so this case takes ~90 s however
  little the work (docs/BENCHMARKS.md);
* ``celery``: the same backfill driven by this process with ``executor = "celery"``: a PostgreSQL
  started on loopback holds the instance, the broker and the results, and two Celery workers
  (``--concurrency 1`` each) run the steps; skipped, with the reason, where PostgreSQL is not
  installed.

The Numba kernels are warmed up first (a small core pass), so no case pays for compiling them.
Every case's warehouse must equal the first case's (``threadx_bench.services.assert_same_warehouse``:
every Parquet partition and export, rows, values and attrs but run ids). The result: per case
seconds, runs and ratio to ``core``; the warehouse comparison; the settings; the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from threadx_bench import machine, services
from threadx_core import settings, storage, times
from threadx_core.data import quality, sources
from threadx_core.data.ingest import ingest_month
from threadx_core.data.resample import resample
from threadx_core.indicators.cache import decode_states, month_indicators
from threadx_core.research import best_by_run as selection
from threadx_core.research import full_period as periods
from threadx_core.research import months, provenance
from threadx_core.research.featured import featured, featured_question
from threadx_core.research.walk_forward import decide
from threadx_core.schema import validate_ohlcv, validate_raw_1m
from threadx_core.sweep import chained, stored
from threadx_core.sweep.run import run_with_daily

CASES = ("core", "in_process", "daemon", "celery")
#: Synthetic symbols, in the order ``--symbols N`` takes them (the source makes any symbol's candles).
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
START = "2024-01"
WORKERS = ("worker-a", "worker-b")
#: Seconds to wait for a started ``dagster-daemon`` to report its backfill daemon healthy.
DAEMON_READY_S = 180.0

#: A warehouse's content keyed (asset, symbol, month), month ``None`` for a per-symbol asset.
PartitionKey = tuple[str, str, str | None]


@dataclass
class CoreOutput:
    """What the assets would store: partitions and report exports (folder key, replaced prefix or
    ``None`` to add beside what is there, name → bytes)."""

    partitions: dict[PartitionKey, pd.DataFrame] = field(default_factory=dict)
    exports: list[tuple[tuple[str, str | None], str | None, dict[str, bytes]]] = field(default_factory=list)


def project_toml(symbols: Sequence[str], execution: str = "") -> str:
    """The settings of every case: the defaults (grid, timeframes, featured set, selection…) with the
    synthetic source, ``symbols`` from ``START``, the warehouse in ``wh`` and ``execution``."""
    quoted = ", ".join(f'"{s}"' for s in symbols)
    return (f'[warehouse]\nroot = "wh"\n\n[universe]\nsymbols = [{quoted}]\nstart_month = "{START}"\n\n'
            f'[source]\nkind = "synthetic"\n\n{execution}')


def core_work(cfg: settings.Settings, symbols: Sequence[str], month_labels: Sequence[str],
              now: pd.Timestamp) -> CoreOutput:
    """Everything the assets of ``cfg`` compute for ``symbols`` × ``month_labels`` (calendar order),
    in memory, with the same ``threadx_core`` calls and arguments as their bodies and the IO
    manager's validation; nothing is read from or written to disk."""
    from threadx_pipeline.research.featured import FEATURED_MODULES
    from threadx_pipeline.research.indicators import windows
    from threadx_pipeline.warehouse import GAPS_TABLE

    out, source = CoreOutput(), sources.from_settings(cfg)
    grid, runs, tfs, gaps = cfg.sweep_grid(), cfg.featured(), cfg.timeframes.sweep, cfg.gaps
    bb_periods, atr_windows = windows(cfg)
    digest, code_version = grid.digest(), provenance.code_version()
    question, featured_code = featured_question(runs), provenance.modules_version(*FEATURED_MODULES)
    device, chosen, wf = cfg.device, cfg.selection, cfg.walkforward
    ratios = list(device.ratios) or ("auto" if device.mode == "multi-gpu" else None)  # as the device resource
    for symbol in symbols:
        previous: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        sweeps: dict[str, dict[str, pd.DataFrame]] = {tf: {} for tf in tfs}
        report = None
        for month in month_labels:
            label = f"{symbol} {month}"
            ingested = ingest_month(source, symbol, month, existing=None, now=now, force=False,
                                    fill=gaps.fill, max_fill_minutes=gaps.max_fill_minutes)
            raw = validate_raw_1m(ingested.frame, label)
            quality.schema_valid(raw, "raw_1m", label)
            quality.unique_sorted(raw)
            quality.completeness(ingested.gaps, gaps.completeness_warn)
            out.partitions[("raw_1m", symbol, month)] = raw
            out.partitions[(GAPS_TABLE, symbol, month)] = ingested.gaps.table()
            bars = {}
            for tf in cfg.timeframes.derive:
                bars[tf] = validate_ohlcv(resample(raw, tf), f"{label} {tf}")
                quality.schema_valid(bars[tf], "ohlcv", f"{label} {tf}")
                quality.resample_consistency(raw, bars[tf], tf)
                out.partitions[(f"ohlcv_{tf}", symbol, month)] = bars[tf]
            caches, before = {}, times.previous_month(month)
            for tf in tfs:
                before_bars, before_cache = previous.get(tf, (None, None))
                states = decode_states(None if before_cache is None else before_cache.attrs.get("atr_state"))
                caches[tf] = month_indicators(bars[tf], before_bars, states, bb_periods, atr_windows).frame
                last = sweeps[tf].get(before)  # each month continues the previous one's runs
                previous_id = "" if last is None else last.attrs["run_id"]
                swept = run_with_daily(bars[tf], grid, device.mode, gpu_indices=list(device.gpus) or None,
                                       ratios=ratios, indicators=caches[tf], close_at_end=False,
                                       start=None if last is None else chained.start_states(last))
                run_id = provenance.continued_run_id(digest, (bars[tf], caches[tf]), previous_id,
                                                     code_version)
                sweeps[tf][month] = stored.to_frame(swept, tf, run_id, previous_id)
                out.partitions[(f"indicators_{tf}", symbol, month)] = caches[tf]
                out.partitions[(f"sweep_{tf}", symbol, month)] = sweeps[tf][month]
            best = selection.best_by_run({tf: sweeps[tf][month] for tf in tfs}, {tf: bars[tf] for tf in tfs},
                                         caches, objective=chosen.objective, min_trades=chosen.min_trades,
                                         top_k=chosen.top_k, title=label,
                                         previous={tf: sweeps[tf].get(before) for tf in tfs})
            out.partitions[("best_by_run", symbol, month)] = best.top
            out.exports.append(((symbol, month), selection.EXPORT_PREFIX, best.files()))
            last_report = None if report is None else report.equity
            report = featured({tf: bars[tf] for tf in tfs}, caches, runs, f"{label}: featured runs",
                              last_report)
            report.equity.attrs.update(
                run_id=provenance.continued_run_id(
                    question, [f for tf in tfs for f in (bars[tf], caches[tf])],
                    "" if last_report is None else last_report.attrs["run_id"], featured_code),
                previous_run_id="" if last_report is None else last_report.attrs["run_id"])
            out.partitions[("backtest_report", symbol, month)] = report.equity
            out.partitions[("backtest_trades", symbol, month)] = report.trades
            previous = {tf: (bars[tf], caches[tf]) for tf in tfs}
        steps = []
        for tf in tfs:
            if months.chains_of(sweeps[tf]).longest <= wf.in_sample_months:
                out.exports.append(((symbol, None), f"{tf}_", {}))
                continue
            decision = decide(sweeps[tf], in_sample_months=wf.in_sample_months, objective=chosen.objective,
                              min_trades=chosen.min_trades, pbo_groups=wf.pbo_groups, seed=wf.bootstrap_seed,
                              title=f"{symbol} {tf}")
            steps.append(decision.walk.steps.assign(timeframe=tf))
            out.exports.append(((symbol, None), f"{tf}_", decision.files(tf)))
        out.partitions[("walk_forward", symbol, None)] = (pd.concat(steps, ignore_index=True) if steps
                                                          else pd.DataFrame({"timeframe": []}))
        result = periods.full_periods({tf: sweeps[tf] for tf in tfs}, None, None, objective=chosen.objective,
                                      min_trades=chosen.min_trades, top_k=chosen.top_k, title=symbol)
        out.partitions[("full_period", symbol, None)] = result.frame
        for period in result.periods:
            stem = f"full_period_{period.first}_{period.last}"
            out.exports.append(((symbol, None), None, {
                f"{stem}.csv": period.frame.drop(columns="daily_returns").to_csv(index=False).encode(),
                **{f"{stem}_{name}.png": png for name, png in period.charts.items()}}))
    return out


def write_warehouse(root: Path, output: CoreOutput) -> None:
    """Store ``output`` under ``root`` where the pipeline's IO manager and warehouse resource would."""
    for (asset, symbol, month), frame in output.partitions.items():
        path = (storage.symbol_path(root, asset, symbol) if month is None
                else storage.partition_path(root, asset, symbol, month))
        storage.write_partition(frame, path)
    for (symbol, month), prefix, files in output.exports:
        folder = storage.reports_path(root, symbol, month)
        if prefix is not None:
            storage.write_exports(folder, prefix, files)
        else:
            for name, data in files.items():
                storage.write_bytes(data, folder / name)


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` is ``env`` inside (the code servers and runs this process starts inherit it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _project(folder: Path, symbols: Sequence[str], execution: str = "") -> Path:
    """``folder/threadx.toml`` (:func:`project_toml`) and the checkout's ``workspace.yaml`` beside it;
    returns the settings path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(services.ROOT / "workspace.yaml", folder / "workspace.yaml")
    path = folder / "threadx.toml"
    path.write_text(project_toml(symbols, execution))
    return path


def _instance_yaml() -> str:
    """The checkout's ``dagster.yaml`` (run queue, concurrency, logging): every case's instance
    behaves as the project's own."""
    path = services.ROOT / "dagster.yaml"
    if not path.exists():
        raise FileNotFoundError(f"threadx bench pipeline: {path} not found (run it from a checkout)")
    return path.read_text()


def _backfill(project: Path, home: Path, symbols: Sequence[str], month_labels: Sequence[str], *, drive: bool,
              progress: Callable[[str], None]) -> dict[str, Any]:
    """Submit the whole graph's backfill of ``symbols`` × ``month_labels`` to the instance at ``home``
    and follow it to its end, driving it from this process when ``drive``; seconds from submission."""
    import dagster as dg

    from threadx_pipeline import runs
    from threadx_pipeline.definitions import build_definitions

    defs = build_definitions(project)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        started = time.perf_counter()
        backfill_id = runs.submit(defs, instance, list(symbols), list(month_labels),
                                  title="threadx bench pipeline")
        if drive:
            with runs.workspace(instance, project.parent) as context:
                outcome = runs.follow(instance, backfill_id, drive=context, progress=progress)
        else:
            outcome = runs.follow(instance, backfill_id, progress=progress)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "runs": len(outcome.runs), "success": outcome.success,
            "status": outcome.status.value.lower(),
            "run_seconds": [round(r.seconds, 1) for r in outcome.runs],
            "failed": [f"{r.symbol} {r.month}: {r.error}" for r in outcome.runs if not r.success]}


def _in_process(folder: Path, symbols: Sequence[str], month_labels: Sequence[str],
                progress: Callable[[str], None]) -> dict[str, Any]:
    project = _project(folder, symbols)
    home = services.write_dagster_home(folder / "dagster_home", base=_instance_yaml())
    with _environ(services.environment(project, home)):
        return _backfill(project, home, symbols, month_labels, drive=True, progress=progress)


def _daemon(folder: Path, symbols: Sequence[str], month_labels: Sequence[str],
            progress: Callable[[str], None]) -> dict[str, Any]:
    import dagster as dg

    from threadx_pipeline.runs import daemon_running

    project = _project(folder, symbols)
    home = services.write_dagster_home(folder / "dagster_home", base=_instance_yaml())
    env, log = services.environment(project, home), folder / "daemon.log"
    daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", "workspace.yaml"],
                              env=env, cwd=folder, stdout=log.open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        began = time.perf_counter()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while not daemon_running(instance):
                if daemon.poll() is not None or time.perf_counter() - began > DAEMON_READY_S:
                    raise RuntimeError(f"dagster-daemon did not become healthy (log {log}):\n"
                                       f"{services.tail(log)}")
                time.sleep(1.0)
        progress(f"dagster-daemon healthy after {time.perf_counter() - began:.0f} s")
        with _environ(env):
            return _backfill(project, home, symbols, month_labels, drive=False, progress=progress)
    finally:
        services.stop(daemon)


def _celery(folder: Path, symbols: Sequence[str], month_labels: Sequence[str],
            progress: Callable[[str], None]) -> dict[str, Any]:
    with services.postgres_server() as server:
        url = server.url(server.create_database("dagster"))
        execution = services.celery_execution(server, server.create_database("broker"))
        project = _project(folder, symbols, execution)
        home = services.write_dagster_home(folder / "dagster_home", url, base=_instance_yaml())
        env = services.environment(project, home)
        began = time.perf_counter()
        with services.celery_workers(env, list(WORKERS), folder / "workers") as workers, _environ(env):
            progress(f"PostgreSQL on 127.0.0.1:{server.port}, workers {', '.join(workers)} ready after "
                     f"{time.perf_counter() - began:.0f} s")
            return {**_backfill(project, home, symbols, month_labels, drive=True, progress=progress),
                    "workers": len(workers)}


def _core(folder: Path, symbols: Sequence[str], month_labels: Sequence[str],
          progress: Callable[[str], None]) -> dict[str, Any]:
    cfg = settings.load(_project(folder, symbols))
    started = time.perf_counter()
    output = core_work(cfg, symbols, month_labels, times.now())
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    write_warehouse(cfg.warehouse.root, output)
    return {"seconds": round(seconds, 2), "runs": 0, "success": True,
            "write_seconds": round(time.perf_counter() - started, 2)}


RUNNERS: dict[str, Callable[[Path, Sequence[str], Sequence[str], Callable[[str], None]], dict[str, Any]]] = {
    "core": _core, "in_process": _in_process, "daemon": _daemon, "celery": _celery}
NOTES = {"core": "threadx_core alone, in this process, JIT warm, disk writes excluded",
         "in_process": "native backfill driven by this process (no daemon), in-process executor",
         "daemon": "native backfill run by dagster-daemon: waits for its fixed 30 s backfill tick per layer",
         "celery": f"native backfill driven by this process, celery executor, {len(WORKERS)} workers, "
                   "PostgreSQL on loopback"}


def skipped(case: str) -> str | None:
    """Why ``case`` cannot run on this machine, or ``None``."""
    if case == "celery":
        try:
            services.postgres_bin(install=False)
        except services.Unavailable as exc:
            return str(exc)
    return None


def _say(line: str) -> None:
    print(line, flush=True)  # progress shows as it happens even when the output is piped to a file


def run(symbols: int = 2, months: int = 6, cases: Sequence[str] | None = None,
        progress: Callable[[str], None] = _say) -> dict[str, Any]:
    """Run ``cases`` (default: all of :data:`CASES` that can run here) on the first ``symbols`` of
    :data:`SYMBOLS` × ``months`` months from ``START``; see the module docstring for the figures."""
    cases = list(CASES if cases is None else cases)
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise ValueError(f"--cases: {unknown or 'none'} not among {list(CASES)}")
    if not 1 <= symbols <= len(SYMBOLS):
        raise ValueError(f"--symbols {symbols}: between 1 and {len(SYMBOLS)}")
    if months < 1:
        raise ValueError(f"--months {months}: at least 1")
    chosen = list(SYMBOLS[:symbols])
    last = times.month_label(times.parse_month(START) + times.MONTH * (months - 1))
    month_labels = times.month_span(START, last)
    report: dict[str, Any] = {"symbols": chosen, "months": [month_labels[0], month_labels[-1]],
                              "settings": "defaults, synthetic source", "cases": {}}
    with tempfile.TemporaryDirectory(prefix="threadx-bench-pipeline-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        cfg = settings.load(_project(root / "warm_up", chosen[:1]))
        core_work(cfg, chosen[:1], month_labels[:2], times.now())
        progress(f"warm-up (Numba kernels, one symbol × {min(2, months)} month(s) of core work): "
                 f"{time.perf_counter() - began:.1f} s")
        ran: dict[str, Path] = {}
        for case in cases:
            reason = skipped(case)
            if reason is not None:
                progress(f"{case}: SKIPPED: {reason}")
                report["cases"][case] = {"skipped": reason}
                continue
            progress(f"{case}: {NOTES[case]} …")
            figures = RUNNERS[case](root / case, chosen, month_labels,
                                    lambda line, c=case: progress(f"  [{c}] {line}"))
            report["cases"][case] = {**figures, "note": NOTES[case]}
            progress(f"{case}: {figures['seconds']:.1f} s, {figures['runs']} run(s), "
                     f"{'ok' if figures['success'] else 'FAILED'}")
            ran[case] = root / case / "wh"
        report["warehouses"] = _compare(ran)
        progress(f"warehouses: {report['warehouses']}")
    core = report["cases"].get("core", {}).get("seconds")
    for figures in report["cases"].values():
        if core and "seconds" in figures:
            figures["x_core"] = round(figures["seconds"] / core, 2)
    report["ok"] = (all(f.get("success", True) for f in report["cases"].values())
                    and report["warehouses"]["equal"])
    report["machine"] = machine.describe()
    return report


def _compare(warehouses: dict[str, Path]) -> dict[str, Any]:
    """Every warehouse against the first one's (``reference``); ``equal`` and the partition files
    compared, or the first difference."""
    if not warehouses:
        return {"equal": True, "reference": None, "files": 0}
    (reference, first), *others = warehouses.items()
    files = len(services.warehouse_files(first))
    for case, path in others:
        try:
            files = services.assert_same_warehouse(first, path)
        except services.WarehouseMismatch as exc:
            return {"equal": False, "reference": reference, "case": case, "difference": str(exc)}
    return {"equal": True, "reference": reference, "compared": [c for c, _ in others], "files": files}
