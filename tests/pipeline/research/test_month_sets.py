"""Robust month sets through Dagster: a month without trading (before a listing) is stored empty,
alike from REST and from the archives, and every asset of it succeeds saying so; a hole in the
stored months splits walk_forward and full_period into chains, with a warning naming the symbol
and the months."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from tests.pipeline.kit import materialization, run, write_project
from threadx_core import storage
from threadx_core.research import months
from threadx_core.testing.candles import FAKE_NOW, SYMBOLS, toy_candles
from threadx_core.testing.fake_binance import FakeBinance
from threadx_pipeline.definitions import SYMBOL_JOB, build_definitions
from threadx_pipeline.partitions import key, register_symbols

GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [1.5, 2.0]\natr_period = [14]\natr_mult = [1.5]\n"
EXTRA = GRID + "\n[walkforward]\nin_sample_months = 1\n\n[selection]\nmin_trades = 1\n"
#: The month job's assets of one symbol-month, each with the metadata key saying it is empty.
MONTH_ASSETS = {"ohlcv_1h": "empty", "indicators_1h": "rows", "sweep_1h": "empty", "best_by_run": "empty",
                "backtest_report": "empty", "backtest_trades": "empty"}


def warnings(instance: dg.DagsterInstance, result) -> list[str]:
    """The warning lines of a run's log."""
    return [r.user_message for r in instance.all_logs(result.run_id) if r.level == 30]


def symbol_reports(path, instance, symbol="BTCUSDT"):
    return build_definitions(path).resolve_job_def(SYMBOL_JOB).execute_in_process(
        partition_key=symbol, instance=instance, raise_on_error=False)


def read(path, asset, month, symbol="BTCUSDT"):
    return storage.read_partition(storage.partition_path(path.parent / "wh", asset, symbol, month))


@pytest.fixture
def unlisted_in_january():
    """The fake Binance where BTCUSDT trades from 2024-02-01 on (no trading in January)."""
    with FakeBinance(toy_candles, SYMBOLS, now=FAKE_NOW,
                     listed={"BTCUSDT": pd.Timestamp("2024-02-01", tz="UTC")}) as fake:
        yield fake


@pytest.mark.parametrize("kind", ["binance", "binance_vision"])
def test_a_month_before_the_listing_is_stored_empty_and_every_asset_of_it_says_so(
        tmp_path, unlisted_in_january, kind):
    urls = f'rest_url = "{unlisted_in_january.url}"\nvision_url = "{unlisted_in_january.url}"'
    path = write_project(tmp_path, source=f'kind = "{kind}"', derive=("1h", "4h"),
                         extra=f"{EXTRA}\n[binance]\n{urls}\nmax_retries = 1\n")
    now = FAKE_NOW.isoformat()
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT"])
        january = run(path, instance, "BTCUSDT", "2024-01", now=now)
        assert january.success
        assert materialization(january, "raw_1m")["state"] == "empty"
        for asset, key in MONTH_ASSETS.items():
            meta = materialization(january, asset)
            assert meta[key] == (0 if key == "rows" else True), (asset, meta)
        assert any("BTCUSDT 2024-01: no candle at the source" in w for w in warnings(instance, january))
        february = run(path, instance, "BTCUSDT", "2024-02", now=now)
        assert february.success and materialization(february, "raw_1m")["state"] == "full"
        assert materialization(february, "indicators_1h")["history"] == "none"  # the listing starts cold

        raw = read(path, "raw_1m", "2024-01")
        assert raw.empty and raw.attrs["fetched_through"] == "2024-02-01T00:00:00+00:00"
        sweep = read(path, "sweep_1h", "2024-01")
        assert months.is_empty(sweep) and len(sweep) == 0
        assert list(sweep.columns) == list(read(path, "sweep_1h", "2024-02").columns)
        assert read(path, "backtest_trades", "2024-01").empty

        reports = symbol_reports(path, instance)
        assert reports.success
        full = materialization(reports, "full_period")
        assert full["chains"] == ["2024-02..2024-02"] and full["holes"] == {"2024-01": "no trading"}
        assert any(w.startswith("BTCUSDT: months that cannot be chained (no trading: 2024-01)")
                   for w in warnings(instance, reports))
        pd.testing.assert_frame_equal(read(path, "raw_1m", "2024-02"), toy_candles(
            "BTCUSDT", pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC")))


def test_both_source_kinds_store_the_same_month_without_trading(tmp_path, unlisted_in_january):
    """REST (empty answer) and the archives (404, confirmed by REST) give the same stored months."""
    stored = {}
    for kind in ("binance", "binance_vision"):
        folder = tmp_path / kind
        folder.mkdir()
        urls = f'rest_url = "{unlisted_in_january.url}"\nvision_url = "{unlisted_in_january.url}"'
        path = write_project(folder, source=f'kind = "{kind}"', derive=("1h",),
                             extra=f"{EXTRA}\n[binance]\n{urls}\nmax_retries = 1\n")
        with dg.instance_for_test() as instance:  # resolved outside one, it may find a dead instance
            raw_1m = build_definitions(path, frozen_now=FAKE_NOW.isoformat()).resolve_assets_def("raw_1m")
            register_symbols(instance, ["BTCUSDT"])
            for month in ("2024-01", "2024-02"):
                done = dg.materialize([raw_1m], partition_key=key("BTCUSDT", month), instance=instance)
                assert done.success
        stored[kind] = {m: read(path, "raw_1m", m) for m in ("2024-01", "2024-02")}
    for month in ("2024-01", "2024-02"):
        rest, archive = stored["binance"][month], stored["binance_vision"][month]
        pd.testing.assert_frame_equal(rest, archive)
        assert rest.attrs["fetched_through"] == archive.attrs["fetched_through"]
    assert stored["binance"]["2024-01"].empty
    archives = [r.path for r in unlisted_in_january.requests if r.path.endswith(".zip")]
    assert archives == ["/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-02.zip"]


def test_a_hole_in_the_stored_months_splits_walk_forward_and_full_period_into_chains(tmp_path):
    path = write_project(tmp_path, derive=("1h", "4h"), extra=EXTRA)
    now = "2024-05-05T00:00:00Z"
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT"])
        for month in ("2024-01", "2024-02", "2024-04"):  # 2024-03 never stored: a hole
            assert run(path, instance, "BTCUSDT", month, now=now).success
        result = symbol_reports(path, instance)
        assert result.success
        lines = warnings(instance, result)

    root = tmp_path / "wh"
    steps = storage.read_partition(storage.symbol_path(root, "walk_forward", "BTCUSDT"))
    assert list(zip(steps["in_sample_first"], steps["out_of_sample"], strict=True)) == [
        ("2024-01", "2024-02")]
    meta = materialization(result, "walk_forward")
    assert meta["1h_chains"] == ["2024-01..2024-02", "2024-04..2024-04"]
    assert meta["1h_holes"] == {"2024-03": "not stored"}
    assert ("BTCUSDT 1h: months that cannot be chained (not stored: 2024-03); chains 2024-01..2024-02, "
            "2024-04..2024-04, each on its own, none joined across a hole") in lines

    frame = storage.read_partition(storage.symbol_path(root, "full_period", "BTCUSDT"))
    assert json.loads(frame.attrs["chains"]) == [["2024-01", "2024-02"], ["2024-04", "2024-04"]]
    chains = set(zip(frame["first"], frame["last"], strict=True))
    assert chains == {("2024-01", "2024-02"), ("2024-04", "2024-04")}
    april = frame[frame["first"] == "2024-04"]
    assert all(len(r) == 30 for r in april["daily_returns"])  # April alone: nothing of February joined
    full = materialization(result, "full_period")
    assert full["chains"] == ["2024-01..2024-02", "2024-04..2024-04"]
    assert full["holes"] == {"2024-03": "not stored"}
    assert any(w.startswith("BTCUSDT: months that cannot be chained (not stored: 2024-03)") for w in lines)
    reports = root / "reports" / "BTCUSDT"
    assert (reports / "full_period_2024-01_2024-02.csv").exists()
    assert (reports / "full_period_2024-04_2024-04.csv").exists()


def test_a_delisted_symbols_last_month_is_stored_empty_and_ends_its_chain(tmp_path):
    delisted = {"BTCUSDT": pd.Timestamp("2024-02-01", tz="UTC")}
    with FakeBinance(toy_candles, SYMBOLS, now=FAKE_NOW, delisted=delisted) as fake:
        urls = f'rest_url = "{fake.url}"\nvision_url = "{fake.url}"'
        path = write_project(tmp_path, source='kind = "binance_vision"', derive=("1h",),
                             extra=f"{EXTRA}\n[binance]\n{urls}\nmax_retries = 1\n")
        with dg.instance_for_test() as instance:
            register_symbols(instance, ["BTCUSDT"])
            states = {}
            for month in ("2024-01", "2024-02"):
                result = run(path, instance, "BTCUSDT", month, now=FAKE_NOW.isoformat())
                assert result.success
                states[month] = materialization(result, "raw_1m")["state"]
            reports = symbol_reports(path, instance)
    assert states == {"2024-01": "full", "2024-02": "empty"}
    assert months.is_empty(read(path, "sweep_1h", "2024-02"))
    assert reports.success
    full = materialization(reports, "full_period")
    assert full["chains"] == ["2024-01..2024-01"] and full["holes"] == {"2024-02": "no trading"}
