"""Indicator caches, sweeps and featured runs through Dagster equal the in-order chain whatever
order the months run in: month 2 materialised before month 1 exists, and a native backfill whose
months Dagster runs as concurrent runs (3 symbols × 2 months: its ranges are grouped by month)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import BACKFILL_ID_TAG

from tests.pipeline.kit import materialization, materialize, threadx, write_project
from threadx_core import storage
from threadx_pipeline.definitions import MONTH_JOB, build_definitions
from threadx_pipeline.partitions import key, register_symbols
from threadx_pipeline.runs import submit

MONTHS = ["2024-01", "2024-02"]
NOW = "2024-03-15T00:00:00Z"
BARS, INDICATORS, SWEEP = ["raw_1m", "ohlcv_1h"], "indicators_1h", "sweep_1h"
#: A small grid (the backfill runs the whole graph) that still needs both recursive ATR methods.
GRID = '[grid]\nbb_period = [20, 30]\natr_period = [14, 30]\natr_method = ["wilder", "ema"]\n'


def project(folder: Path, symbols: tuple[str, ...]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_project(folder, symbols=symbols, derive=("1h",), extra=GRID)


def in_order(folder: Path, symbols: tuple[str, ...]) -> Path:
    """A warehouse where each symbol's bars, indicators, sweep and featured runs were materialised
    month 1 then month 2."""
    path = project(folder, symbols)
    with dg.instance_for_test() as instance:
        register_symbols(instance, list(symbols))
        for symbol in symbols:
            for month in MONTHS:
                assets = [*BARS, INDICATORS, SWEEP, "backtest_report", "backtest_trades"]
                assert materialize(path, instance, symbol, month, assets, now=NOW).success
    return folder / "wh"


def cache(root: Path, symbol: str, month: str, asset: str = INDICATORS) -> pd.DataFrame:
    return storage.read_partition(storage.partition_path(root, asset, symbol, month))


def assert_same_cache(got: pd.DataFrame, expected: pd.DataFrame, name: str) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)
    assert got.attrs == expected.attrs, name


@contextlib.contextmanager
def months_stored(folder: Path, assets: list[str]) -> Iterator[tuple[Path, Path, dg.DagsterInstance]]:
    """A BTCUSDT project whose months have ``assets`` materialised, in calendar order:
    (settings path, warehouse root, instance)."""
    path = project(folder / "reversed", ("BTCUSDT",))
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT"])
        for month in MONTHS:
            assert materialize(path, instance, "BTCUSDT", month, assets, now=NOW).success
        yield path, folder / "reversed" / "wh", instance


def test_month_two_before_month_one_s_cache_exists_equals_the_in_order_cache(tmp_path):
    symbols = ("BTCUSDT",)
    with months_stored(tmp_path, BARS) as (path, root, instance):
        february = materialize(path, instance, "BTCUSDT", "2024-02", [INDICATORS], now=NOW)
        assert february.success
    meta = materialization(february, INDICATORS)
    assert meta["history"] == "previous month" and meta["atr_exact"] is True
    assert meta["rebuilt_months"] == ["2024-01"]
    assert not storage.partition_path(root, INDICATORS, "BTCUSDT", "2024-01").exists()  # not written
    expected = in_order(tmp_path / "in_order", symbols)
    assert_same_cache(cache(root, "BTCUSDT", "2024-02"), cache(expected, "BTCUSDT", "2024-02"), "2024-02")


def test_a_sweep_month_before_the_month_it_continues_computes_and_stores_it_once(tmp_path):
    symbols = ("BTCUSDT",)
    with months_stored(tmp_path, [*BARS, INDICATORS]) as (path, root, instance):
        february = materialize(path, instance, "BTCUSDT", "2024-02", [SWEEP], now=NOW)
        assert february.success
        # stored by February's step, so January's own run reuses it: computed once
        assert storage.partition_path(root, SWEEP, "BTCUSDT", "2024-01").exists()
        january = materialize(path, instance, "BTCUSDT", "2024-01", [SWEEP], now=NOW)
        assert january.success
    meta, reuse = materialization(february, SWEEP), materialization(january, SWEEP)
    assert meta["continues"] == "2024-01" and meta["computed_months"] == ["2024-01"]
    assert reuse["reused"] is True and reuse["chain_start"] == "first"
    expected = in_order(tmp_path / "in_order", symbols)
    for month in MONTHS:
        assert_same_cache(cache(root, "BTCUSDT", month, SWEEP), cache(expected, "BTCUSDT", month, SWEEP),
                          month)


def test_a_backfill_with_concurrent_month_runs_equals_per_symbol_in_order_caches(tmp_path):
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    path, home = project(tmp_path / "native", symbols), tmp_path / "home"
    home.mkdir()
    done = threadx("--config", str(path), "backfill", "--from", MONTHS[0], "--to", MONTHS[-1],
                   home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "asset partitions, 0 failed]" in done.stdout and "completed_success" in done.stdout

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (backfill,) = instance.get_backfills()
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        messages = [record.message for run in runs for record in instance.all_logs(run.run_id)]
        materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
        exact = [record.asset_materialization.metadata["atr_exact"].value for run in runs
                 for record in instance.all_logs(run.run_id, of_type=materialized)
                 if record.asset_materialization.asset_key == dg.AssetKey(INDICATORS)]
    assert not [m for m in messages if "not exact" in m]
    assert exact == [True] * len(symbols) * len(MONTHS)

    native, expected = tmp_path / "native" / "wh", in_order(tmp_path / "in_order", symbols)
    for symbol in symbols:
        for month in MONTHS:
            name = f"{symbol} {month}"
            for asset in (INDICATORS, SWEEP, "backtest_report"):
                assert_same_cache(cache(native, symbol, month, asset), cache(expected, symbol, month, asset),
                                  f"{asset} {name}")
        # month 2 continued month 1's runs, whichever of their runs went first
        january, february = (cache(native, symbol, m, SWEEP) for m in MONTHS)
        assert february.attrs["previous_run_id"] == january.attrs["run_id"] != ""
        assert february["carry_tr_n"].sum() > 0


def test_a_backfill_s_month_run_before_the_earlier_month_s_run_stores_that_month_first(tmp_path):
    # a backfill of January and February whose February run goes first (its months run as runs of
    # their own when they are no more than its symbols): February's raw_1m and ohlcv steps store
    # January ahead of January's own run, so February continues January, not a cold start
    path = project(tmp_path / "ahead", ("BTCUSDT",))
    root, defs = tmp_path / "ahead" / "wh", build_definitions(path, frozen_now=NOW)
    with dg.instance_for_test() as instance:
        backfill_id = submit(defs, instance, ["BTCUSDT"], MONTHS, title="February first")
        february = defs.resolve_job_def(MONTH_JOB).execute_in_process(
            partition_key=key("BTCUSDT", "2024-02"), instance=instance, tags={BACKFILL_ID_TAG: backfill_id})
        assert february.success
        assert storage.partition_path(root, "raw_1m", "BTCUSDT", "2024-01").exists()
        january = materialize(path, instance, "BTCUSDT", "2024-01", [*BARS, INDICATORS, SWEEP], now=NOW)
        assert january.success
    assert materialization(february, INDICATORS)["history"] == "previous month"
    assert materialization(february, SWEEP)["continues"] == "2024-01"
    assert materialization(january, SWEEP)["reused"] is True  # stored by February's step
    expected = in_order(tmp_path / "in_order", ("BTCUSDT",))
    for asset in (*BARS, INDICATORS, SWEEP, "backtest_report"):
        for month in MONTHS:
            if asset == "backtest_report" and month == "2024-01":
                continue  # run in memory by February's step, stored by January's own run only
            assert_same_cache(cache(root, "BTCUSDT", month, asset), cache(expected, "BTCUSDT", month, asset),
                              f"{asset} {month}")
