"""The ``threadx`` command: ``demo``, ``backfill``, ``aggregate``, ``migrate``, ``bench``, ``doctor``
and ``universe``. Errors are one line and exit code 2 (``cli_support``).

Every command reads the same ``threadx.toml`` as the Dagster code location (``--config`` or the
search order of ``threadx_pipeline.config``), and records its runs in the Dagster instance at
``$DAGSTER_HOME`` — the project folder when the variable is unset, written to a git-ignored
``.env`` there so that ``dagster dev`` started from that folder opens the same instance.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from threadx_core import settings, times
from threadx_core.present import summary
from threadx_pipeline import cli_support

#: The top-level help, in plain words.
DESCRIPTION = ("ThreadX: Bollinger/ATR mean-reversion research on Binance candles, as Dagster assets.\n"
               "Every command reads threadx.toml (--config, else ./threadx.toml) and records its runs\n"
               "in the Dagster instance at $DAGSTER_HOME (the project folder when unset).")


def _dagster_home(project: Path) -> Path:
    """Point ``DAGSTER_HOME`` at ``project`` unless set, and persist that in ``project/.env``."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home)
    os.environ["DAGSTER_HOME"] = str(project)
    env = project / ".env"
    lines = env.read_text().splitlines() if env.exists() else []
    if not any(line.startswith("DAGSTER_HOME=") for line in lines):
        env.write_text("\n".join([*lines, f"DAGSTER_HOME={project}"]) + "\n")
    return project


def _load(args: argparse.Namespace) -> tuple[settings.Settings, Path]:
    if args.config:
        os.environ["THREADX_CONFIG"] = str(Path(args.config).resolve())
    from threadx_pipeline.config import settings_path

    path = settings_path()
    return settings.load(path), path


def _run(args: argparse.Namespace, symbols: list[str], month_labels: list[str], force: bool,
         unpartitioned: tuple[str, ...] = ()) -> int:
    """Submit a backfill of ``symbols`` × ``month_labels`` (the symbols' per-symbol reports, and
    the ``unpartitioned`` assets named) and follow it to the end; the backfill daemon runs it, or
    this process when none is alive."""
    from threadx_pipeline import monitor, runs
    from threadx_pipeline.definitions import build_definitions
    from threadx_pipeline.instance import open_instance

    cfg, path = _load(args)
    cli_support.ensure_warehouse(cfg.warehouse.root)
    os.environ["THREADX_CONFIG"] = str(path)  # the code server that launches the runs reads the same file
    home = _dagster_home(path.parent)
    print(f"settings: {path}\nDagster instance: {home}\n"
          f"{len(symbols)} symbol(s) × {len(month_labels)} month(s), source {cfg.source.kind}")
    defs = build_definitions(path)
    title = f"threadx {args.command} {','.join(symbols)} {month_labels[0]}..{month_labels[-1]}"
    with open_instance(home) as instance:
        for line in monitor.fail_dead(instance):
            print(line)
        driving = not runs.daemon_running(instance)
        if driving:
            print("no dagster-daemon running: driving the backfill from this process")
        backfill_id = runs.submit(defs, instance, symbols, month_labels, force=force, title=title,
                                  driver_pid=os.getpid() if driving else None, unpartitioned=unpartitioned)
        print(f"backfill {backfill_id} submitted (Backfills page of the UI)")
        if driving:
            with runs.workspace(instance, path.parent) as context:
                outcome = runs.follow(instance, backfill_id, drive=context)
        else:
            outcome = runs.follow(instance, backfill_id)
    failed = [r for r in outcome.runs if not r.success]
    print(f"backfill {backfill_id} {outcome.status.value.lower()}: {len(outcome.runs) - len(failed)} run(s) "
          f"succeeded, {len(failed)} failed; {outcome.reused_sweeps} of {outcome.swept} sweep partition(s) "
          f"reused (inputs and code unchanged)")
    for r in failed:
        print(f"  {r.symbol} {r.month}: {r.error}", file=sys.stderr)
    _print_summary(cfg, symbols)
    return 0 if outcome.success else 1


def _print_summary(cfg: settings.Settings, symbols: list[str]) -> None:
    """The result table of ``symbols`` (``threadx_core.present.summary``) and where the reports are."""
    table = summary.collect(cfg.warehouse.root, symbols, cfg.timeframes.sweep,
                            objective=cfg.selection.objective, min_trades=cfg.selection.min_trades)
    print(f"\nResult (selection: walk-forward latest, else full-period best; caution under "
          f"{summary.MIN_OOS_MONTHS} out-of-sample months):\n{summary.render(table)}\nReports:")
    for symbol in symbols:
        print(f"  {symbol}: {cfg.warehouse.root / 'reports' / symbol}")


def cmd_demo(args: argparse.Namespace) -> int:
    cfg, path = _load(args)
    if cfg.source.kind != "synthetic":
        print(f"threadx demo runs offline on the synthetic source, but {path} says "
              f"[source] kind = {cfg.source.kind!r}; use `threadx backfill` for real data.", file=sys.stderr)
        return 2
    from threadx_pipeline.partitions import month_range
    from threadx_pipeline.research.leaderboard import ASSET as LEADERBOARD

    start = cfg.universe.start_month
    last = times.month_label(times.parse_month(start) + times.MONTH * (args.months - 1))
    month_labels = month_range(cfg, start, last)
    code = _run(args, list(cfg.universe.symbols), month_labels, force=False, unpartitioned=(LEADERBOARD,))
    root = cfg.warehouse.root
    print(_leaderboard_line(root, code == 0))
    print(f"\nResults (Parquet, Hive layout): {root}\n"
          f"  e.g. {root / 'ohlcv_1h' / f'symbol={cfg.universe.symbols[0]}' / f'month={start}.parquet'}\n"
          f"  read a whole asset: pyarrow.dataset.dataset('{root / 'ohlcv_1h'}', partitioning='hive')\n"
          f"Open the UI on the same instance:  cd {path.parent} && dagster dev   → http://127.0.0.1:3000")
    return code


def _leaderboard_line(root: Path, succeeded: bool) -> str:
    """Where the demo's leaderboard is (every symbol × timeframe ranked), or why it may be stale."""
    from threadx_pipeline.research.leaderboard import CSV

    csv = root / "reports" / CSV
    if succeeded:
        return f"\nLeaderboard (every symbol × timeframe, ranked): {csv}"
    return f"\nthe leaderboard was not refreshed (a run failed, see above); {csv} may be older"


def _symbols(args: argparse.Namespace, cfg: settings.Settings) -> list[str]:
    """``--symbols`` (default: every ``[universe]`` symbol), checked by ``cli_support.symbols``."""
    return cli_support.symbols(args.symbols, cfg.universe.symbols)


def cmd_backfill(args: argparse.Namespace) -> int:
    cfg, _ = _load(args)
    symbols = _symbols(args, cfg)
    from threadx_pipeline.partitions import month_range

    return _run(args, symbols, month_range(cfg, args.start, args.end), force=args.force)


def cmd_aggregate(args: argparse.Namespace) -> int:
    import dagster as dg

    from threadx_pipeline.definitions import build_definitions
    from threadx_pipeline.instance import open_instance
    from threadx_pipeline.research.full_period import ASSET as FULL_PERIOD
    from threadx_pipeline.runs import full_period

    cfg, path = _load(args)
    symbols = _symbols(args, cfg)
    if args.first and args.last:
        times.month_span(args.first, args.last)
    cli_support.check_stored(cfg.warehouse.root, symbols, cfg.timeframes.sweep, args.first, args.last)
    home = _dagster_home(path.parent)
    print(f"settings: {path}\nDagster instance: {home}\n{FULL_PERIOD} of {len(symbols)} symbol(s) over "
          f"{args.first or 'the first stored month'}..{args.last or 'the last stored month'}")
    with open_instance(home) as instance:
        outcomes = full_period(build_definitions(path), instance, symbols, args.first, args.last)
        for o in outcomes:
            if o.success:
                (record,) = instance.fetch_materializations(dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(FULL_PERIOD), asset_partitions=[o.symbol]), limit=1).records
                print(f"{o.symbol}: CSV {record.asset_materialization.metadata['csv'].value}")
            else:
                print(f"{FULL_PERIOD} {o.symbol} failed: {o.error}", file=sys.stderr)
    _print_summary(cfg, [o.symbol for o in outcomes if o.success])
    return 1 if any(not o.success for o in outcomes) else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Import legacy files into raw_1m through ``migrate_job`` (threadx_pipeline/migrate.py)."""
    from threadx_pipeline import migrate
    from threadx_pipeline.definitions import build_definitions
    from threadx_pipeline.instance import open_instance

    src = Path(args.src).resolve()
    if not src.is_dir():
        raise ValueError(f"migrate: SRC {src} is not a folder")
    _, path = _load(args)
    home = _dagster_home(path.parent)
    mode = " (dry run: nothing is written)" if args.dry_run else ""
    print(f"settings: {path}\nDagster instance: {home}\nmigrating legacy files under {src}{mode}")
    with open_instance(home) as instance:
        report, error = migrate.run(build_definitions(path), instance, src, force=args.force,
                                    dry_run=args.dry_run)
    if error:
        print(f"threadx: {error}", file=sys.stderr)
        return 2
    print("\n".join(report["lines"]))
    return 1 if report["needs_attention"] else 0


BENCHES = {
    "ingest": "threadx_bench.ingest",
    "backtest": "threadx_bench.backtest",
    "sweep": "threadx_bench.sweep",
    "pipeline": "threadx_bench.pipeline",
}


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib
    import json

    from threadx_bench import machine

    if args.latency_ms and args.what != "ingest":
        raise ValueError(f"--latency-ms applies to 'threadx bench ingest' only, not to {args.what!r}")
    options = {"symbols": args.symbols, "months": args.months, "cases": args.cases}
    given = [f"--{name}" for name, value in options.items() if value is not None]
    if given and args.what != "pipeline":
        raise ValueError(f"{', '.join(given)} apply to 'threadx bench pipeline' only, not to {args.what!r}")
    kwargs: dict = {"latency_ms": args.latency_ms} if args.latency_ms else {}
    if args.what == "pipeline":
        kwargs = {k: v for k, v in options.items() if v is not None}
        if args.cases is not None:
            kwargs["cases"] = args.cases.split(",")
    bench = importlib.import_module(BENCHES[args.what])
    print(f"threadx bench {args.what} on {machine.describe()} …", flush=True)
    figures = bench.run(**kwargs)
    print(json.dumps({"bench": args.what, "machine": machine.describe(), **figures}, indent=2, default=str))
    return 0 if figures.get("ok", True) else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from threadx_pipeline import doctor

    cfg, path = _load(args)
    return doctor.run(cfg, _dagster_home(path.parent), as_json=args.json)


def cmd_universe(args: argparse.Namespace) -> int:
    """Materialise the ``universe`` asset now, in the project's instance, and print what changed."""
    from threadx_pipeline.instance import open_instance
    from threadx_pipeline.universe import materialize_now

    _, path = _load(args)
    with open_instance(_dagster_home(path.parent)) as instance:
        ok, text = materialize_now(path, instance)
    print(text, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = cli_support.Parser(prog="threadx", description=DESCRIPTION)
    parser.add_argument("--config", help="path of threadx.toml (default: ./threadx.toml)")
    parser.add_argument("--version", action="version", version=f"threadx {cli_support.version()}")
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an unexpected error (a bug) after its one line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=cli_support.Parser)

    demo = sub.add_parser("demo", help="materialise the whole graph on synthetic data, offline")
    demo.add_argument("--months", type=cli_support.positive_int, default=2,
                      help="months from [universe] start_month (default 2)")
    demo.set_defaults(func=cmd_demo)

    bf = sub.add_parser("backfill", help="materialise raw_1m and everything downstream for a range")
    bf.add_argument("--symbols", help="comma-separated (default: every [universe] symbol)")
    bf.add_argument("--from", dest="start", help="first month YYYY-MM (default: start_month)")
    bf.add_argument("--to", dest="end", help="last month YYYY-MM, inclusive (default: current month)")
    bf.add_argument("--force", action="store_true", help="re-fetch finished, complete months")
    bf.set_defaults(func=cmd_backfill)

    agg = sub.add_parser("aggregate", help="full-period metrics over a month range, from the stored sweeps")
    agg.add_argument("--symbols", help="comma-separated (default: every [universe] symbol)")
    agg.add_argument("--first", help="first month YYYY-MM (default: the first stored month)")
    agg.add_argument("--last", help="last month YYYY-MM, inclusive (default: the last stored month)")
    agg.set_defaults(func=cmd_aggregate)

    mig = sub.add_parser("migrate", help="import legacy TradXPro/ThreadX candle files into raw_1m")
    mig.add_argument("src", help="folder of legacy JSON/Parquet/CSV files (searched recursively)")
    mig.add_argument("--force", action="store_true", help="overwrite stored partitions that differ")
    mig.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    mig.set_defaults(func=cmd_migrate)

    bench = sub.add_parser("bench", help="measure a stage; figures go to docs/BENCHMARKS.md")
    bench.add_argument("what", choices=sorted(BENCHES))
    bench.add_argument("--latency-ms", type=float, default=0.0,
                       help="ingest: round trip the loopback server adds to every answer (default 0)")
    bench.add_argument("--symbols", type=int, help="pipeline: synthetic symbols (default 2)")
    bench.add_argument("--months", type=int, help="pipeline: months from 2024-01 (default 6)")
    bench.add_argument("--cases", help="pipeline: comma-separated among core,in_process,daemon,celery "
                                       "(default: all that can run here)")
    bench.set_defaults(func=cmd_bench)

    doc = sub.add_parser("doctor", help="check this machine: versions, Numba, GPUs, disk, Dagster, Binance; "
                                        "exit 0 ok, 1 warnings, 2 errors")
    doc.add_argument("--json", action="store_true", help="the report as JSON instead of a table")
    doc.set_defaults(func=cmd_doctor)
    universe = sub.add_parser("universe", help="select the symbol universe now (CoinGecko + Binance)")
    universe.set_defaults(func=cmd_universe)

    cli_support.describe(parser, sub)
    args = parser.parse_args(argv)
    return cli_support.guarded(lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
