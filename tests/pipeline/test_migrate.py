"""``threadx migrate`` through Dagster: imports are raw_1m materialisations, idempotent, never
overwrite a different stored partition without --force; coarser files are only checked.

The file layouts, units and legacy defects: tests/core/data/test_migrate.py.
"""

import json

import dagster as dg
import pandas as pd
import pytest

from tests.pipeline.kit import materialization, materialize, write_project
from threadx_core import storage
from threadx_core.data import legacy
from threadx_core.data.resample import resample
from threadx_core.testing import legacy_files
from threadx_core.testing.candles import toy_candles
from threadx_pipeline import migrate
from threadx_pipeline.cli import main
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.market_data.assets import RAW
from threadx_pipeline.partitions import register_symbols

START = pd.Timestamp("2024-01-31 23:00", tz="UTC")
FEBRUARY = pd.Timestamp("2024-02-01", tz="UTC")
NOW = "2024-04-10T00:00:00+00:00"


def candles(symbol):
    return toy_candles(symbol, START, START + pd.Timedelta(hours=2))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One project and one instance for the module; each test uses symbols of its own."""
    folder = tmp_path_factory.mktemp("migrate")
    path = write_project(folder, derive=("15m", "1h"))
    with dg.instance_for_test() as instance:
        yield path, instance, build_definitions(path), folder


def raw_events(instance, partition):
    return instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=RAW, asset_partitions=[partition]),
                                           limit=100).records


def test_imports_are_raw_1m_materialisations_and_a_second_run_imports_nothing(env):
    path, instance, defs, folder = env
    source = candles("ETHBTC")
    file = legacy_files.json_records(source, folder / "a" / "crypto_data_json" / "ETHBTC_1m.json")
    report, error = migrate.run(defs, instance, folder / "a", force=False, dry_run=False)
    assert error is None and report["totals"]["imported"] == 2 and not report["needs_attention"]
    assert instance.has_dynamic_partition("symbols", "ETHBTC")  # a symbol the settings do not list
    keys = {"2024-01|ETHBTC", "2024-02|ETHBTC"}
    assert keys <= instance.get_materialized_partitions(RAW)
    (record,) = raw_events(instance, "2024-02|ETHBTC")
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert meta["source_sha256"] == legacy.sha256(file)
    assert meta["source_file"] == "crypto_data_json/ETHBTC_1m.json" and meta["action"] == "imported"
    assert meta["rows"] == int((source["open_time"] >= FEBRUARY).sum())
    # the import is the 1m truth downstream assets read
    result = materialize(path, instance, "ETHBTC", "2024-02", ["ohlcv_15m"], now=NOW)
    assert result.success and materialization(result, "ohlcv_15m")["rows"] == 4
    again, error = migrate.run(defs, instance, folder / "a", force=False, dry_run=False)
    assert error is None and again["totals"]["imported"] == 0
    assert again["totals"]["already_imported_files"] == 1
    assert "nothing to import" in again["lines"][-1]
    assert all(len(raw_events(instance, k)) == 1 for k in keys)  # no new materialisation


def test_a_different_stored_partition_is_a_conflict_until_forced(env):
    path, instance, defs, folder = env
    register_symbols(instance, ["SOLUSDT"])
    assert materialize(path, instance, "SOLUSDT", "2024-01", ["raw_1m"], now=NOW).success  # synthetic source
    target = storage.partition_path(folder / "wh", "raw_1m", "SOLUSDT", "2024-01")
    before = target.read_bytes()
    legacy_files.parquet_klines(candles("SOLUSDT"), folder / "b" / "SOLUSDT_1m.parquet")
    report, _ = migrate.run(defs, instance, folder / "b", force=False, dry_run=False)
    jan, feb = report["files"][0]["partitions"]
    assert (jan["action"], feb["action"]) == ("conflict", "imported") and report["needs_attention"]
    assert "44640 rows stored" in jan["detail"] and "--force" in jan["detail"]
    assert target.read_bytes() == before and len(raw_events(instance, "2024-01|SOLUSDT")) == 1
    forced, _ = migrate.run(defs, instance, folder / "b", force=True, dry_run=False)
    assert [p["action"] for p in forced["files"][0]["partitions"]] == ["overwritten", "identical"]
    source = candles("SOLUSDT")
    pd.testing.assert_frame_equal(storage.read_partition(target), source[source["open_time"] < FEBRUARY])
    latest = raw_events(instance, "2024-01|SOLUSDT")[0].asset_materialization
    assert latest.metadata["action"].value == "overwritten"


def test_cli_dry_run_import_and_a_coarser_file_checked_not_imported(tmp_path, monkeypatch, capsys):
    (tmp_path / "project").mkdir()
    path = write_project(tmp_path / "project")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "project"))
    monkeypatch.setenv("THREADX_CONFIG", str(path))  # main() sets it; monkeypatch restores it
    source = candles("XRPUSDT")
    src = tmp_path / "legacy"
    legacy_files.json_records(source, src / "XRPUSDT_1m.json")
    hourly = resample(source, "1h")
    hourly.loc[1, "close"] += 0.5  # 2024-02-01 00:00, one bar the legacy tool got wrong
    legacy_files.parquet_index(hourly, src / "XRPUSDT_1h.parquet")
    (src / "notes.txt").write_text("not a candle file")

    def threadx(*args):
        code = main(["--config", str(path), "migrate", str(src), *args])
        return code, capsys.readouterr()

    code, out = threadx("--dry-run")
    assert code == 1 and "2 partition(s) would be imported (dry run: nothing written)" in out.out
    assert not (tmp_path / "project" / "wh").exists()
    code, out = threadx()
    assert code == 1, out.err  # the 1h mismatch needs a person's look
    n = len(source)
    assert f"XRPUSDT_1m.json: XRPUSDT 1m, {n} rows read (time: column 'timestamp', unit ms ({n}))" in out.out
    assert ("XRPUSDT_1h.parquet: XRPUSDT 1h, 2 rows read" in out.out
            and "2 of 2 bars compared, 1 mismatch(es)" in out.out
            and "2024-02-01T00:00:00+00:00 close" in out.out)
    assert sorted(p.name for p in (tmp_path / "project" / "wh").iterdir()) == ["_migrate", "raw_1m"]
    assert json.loads((tmp_path / "project" / "wh" / "_migrate" / "manifest.json").read_text()).keys() == {
        legacy.sha256(src / "XRPUSDT_1m.json")}
    _, out = threadx()
    assert "XRPUSDT_1m.json: already imported" in out.out and "nothing to import" in out.out
    missing = main(["--config", str(path), "migrate", str(tmp_path / "nowhere")])
    assert missing == 2 and capsys.readouterr().err.strip() == (
        f"threadx: migrate: SRC {tmp_path / 'nowhere'} is not a folder")
