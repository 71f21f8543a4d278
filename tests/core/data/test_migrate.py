"""Legacy files into raw_1m partitions: every layout, every row checked, the legacy defects refused.

Through Dagster and the CLI (materialisations, conflicts, --force, coarser files):
tests/pipeline/test_migrate.py.
"""

import json
from functools import partial

import pandas as pd
import pytest

from threadx_core import storage
from threadx_core.data.migrate import MigrationError, migrate
from threadx_core.schema import RAW_1M_COLUMNS
from threadx_core.testing import legacy_files
from threadx_core.testing.candles import toy_candles

NOW = pd.Timestamp("2024-04-10", tz="UTC")
START = pd.Timestamp("2024-01-31 23:00", tz="UTC")  # two hours across a month boundary
AMOUNTS = ["quote_volume", "trades", "taker_buy_base", "taker_buy_quote"]


def candles(symbol="BTCUSDT"):
    return toy_candles(symbol, START, START + pd.Timedelta(hours=2))


def run(src, root, **kwargs):
    return migrate(src, partition_path=partial(storage.partition_path, root, "raw_1m"),
                   manifest=root / "_migrate" / "manifest.json", first_month="2024-01", now=NOW, **kwargs)


def stored(root, symbol="BTCUSDT"):
    files = sorted((root / "raw_1m" / f"symbol={symbol}").glob("month=*.parquet"))
    return pd.concat([storage.read_partition(f) for f in files], ignore_index=True)


LAYOUTS = {
    # writer, file name, time source, units, columns the file carries besides open_time
    "json ms (TradXPro)": (partial(legacy_files.json_records, unit="ms"), "crypto_data_json/BTCUSDT_1m.json",
                           "column 'timestamp'", "ms", legacy_files.OHLCV),
    "json seconds (bug T11)": (partial(legacy_files.json_records, unit="s"), "BTCUSDT-1m.json",
                               "column 'timestamp'", "s", legacy_files.OHLCV),
    "parquet µs klines": (legacy_files.parquet_klines, "binance-BTCUSDT-1m-2024.parquet",
                          "column 'open_time'", "us", list(RAW_1M_COLUMNS[1:-1])),
    "parquet DatetimeIndex": (legacy_files.parquet_index, "crypto_data_parquet/BTCUSDT_1m.parquet",
                              "DatetimeIndex", "datetime[ms]", legacy_files.OHLCV),
    "csv epoch s": (legacy_files.csv_epoch, "BTCUSDT_tf1m.csv", "column 'time'", "s", legacy_files.OHLCV),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_imports_every_row_as_the_source_has_it(tmp_path, layout):
    write, name, time_source, unit, carried = LAYOUTS[layout]
    source = candles()
    write(source, tmp_path / "src" / name)
    report = run(tmp_path / "src", tmp_path / "wh")
    (file,) = report.files
    assert (file.symbol, file.timeframe, file.time_source, file.units) == ("BTCUSDT", "1m", time_source,
                                                                          {unit: len(source)})
    assert [(p.month, p.action, p.rows) for p in file.partitions] == [
        ("2024-01", "imported", int((source["open_time"] < "2024-02-01").sum())),
        ("2024-02", "imported", int((source["open_time"] >= "2024-02-01").sum()))]
    got = stored(tmp_path / "wh")
    pd.testing.assert_frame_equal(got[["open_time", *carried]], source[["open_time", *carried]])
    assert file.zero_filled == [c for c in AMOUNTS if c not in carried]
    assert (got[file.zero_filled] == 0).all().all() and not got["filled"].any()
    assert file.unknown_columns == (["close_time", "ignore"] if "klines" in layout else [])


def test_a_file_mixing_ms_and_us_gets_each_value_its_unit(tmp_path):
    source = candles()
    path = legacy_files.json_records(source, tmp_path / "src" / "BTCUSDT_1m.json")
    records = json.loads(path.read_text())
    for r in records[60:]:  # Binance's spot archives went from ms to µs on 2025-01-01
        r["timestamp"] *= 1000
    path.write_text(json.dumps(records))
    (file,) = run(tmp_path / "src", tmp_path / "wh").files
    assert file.units == {"ms": 60, "us": len(source) - 60}
    pd.testing.assert_series_equal(stored(tmp_path / "wh")["open_time"], source["open_time"])


def test_duplicate_minutes_keep_the_last_row_and_are_counted(tmp_path):
    source = candles()
    path = legacy_files.json_records(source, tmp_path / "src" / "BTCUSDT_1m.json")
    records = json.loads(path.read_text())
    later = [{**r, "close": r["open"], "high": max(r["high"], r["open"]), "low": min(r["low"], r["open"])}
             for r in records[:3]]
    path.write_text(json.dumps(records + later))
    (file,) = run(tmp_path / "src", tmp_path / "wh").files
    assert (file.rows_read, file.duplicates) == (len(source) + 3, 3)
    got = stored(tmp_path / "wh")
    assert len(got) == len(source)
    assert got["close"].iloc[:3].tolist() == [r["open"] for r in records[:3]]


def test_a_second_run_imports_nothing_and_says_so_and_a_dry_run_writes_nothing(tmp_path):
    legacy_files.json_records(candles(), tmp_path / "src" / "BTCUSDT_1m.json")
    dry = run(tmp_path / "src", tmp_path / "wh", dry_run=True)
    assert dry.totals()["imported"] == 2 and not (tmp_path / "wh").exists()
    assert "dry run: nothing written" in dry.summary()
    first = run(tmp_path / "src", tmp_path / "wh")
    assert first.totals()["imported"] == 2
    second = run(tmp_path / "src", tmp_path / "wh")
    assert second.files[0].status == "already imported" and second.totals()["imported"] == 0
    assert "nothing to import" in second.summary()


def test_twins_and_conflicts_never_overwrite_without_force(tmp_path):
    source = candles()
    legacy_files.json_records(source, tmp_path / "src" / "crypto_data_json" / "BTCUSDT_1m.json")
    legacy_files.parquet_index(source, tmp_path / "src" / "crypto_data_parquet" / "BTCUSDT_1m.parquet")
    other = source.assign(close=source["close"].where(source.index != 5, source["open"]))
    legacy_files.json_records(other, tmp_path / "src" / "later" / "BTCUSDT_1m.json")
    report = run(tmp_path / "src", tmp_path / "wh")
    twin, changed = (f for f in report.files if f.file != "crypto_data_json/BTCUSDT_1m.json")
    assert [p.action for p in twin.partitions] == ["identical", "identical"]
    assert [p.action for p in changed.partitions] == ["conflict", "identical"]
    january = changed.partitions[0].rows
    assert f"1 of {january} common minutes differ" in changed.partitions[0].detail and report.needs_attention
    assert stored(tmp_path / "wh")["close"].iloc[5] == source["close"].iloc[5]
    forced = run(tmp_path / "src", tmp_path / "wh", force=True)
    assert [p.action for f in forced.files for p in f.partitions][-2:] == ["overwritten", "identical"]
    assert stored(tmp_path / "wh")["close"].iloc[5] == source["open"].iloc[5]


def refusal(tmp_path, name):
    (file,) = run(tmp_path / "src", tmp_path / "wh").files
    assert file.status == "refused" and str(tmp_path / "src" / name) in file.error
    assert "\n" not in file.error and not (tmp_path / "wh" / "raw_1m").exists()
    return file.error


def test_timestamps_dropped_to_a_range_index_are_refused_naming_the_file(tmp_path):
    legacy_files.parquet_range_index(candles(), tmp_path / "src" / "processed" / "BTCUSDT_1m.parquet")
    error = refusal(tmp_path, "processed/BTCUSDT_1m.parquet")
    assert "RangeIndex" in error and "timestamps were dropped" in error


def test_epoch_values_that_read_as_1970_are_a_unit_error_not_data(tmp_path):
    path = legacy_files.json_records(candles(), tmp_path / "src" / "BTCUSDT_1m.json")
    path.write_text(json.dumps([{**r, "timestamp": i} for i, r in enumerate(json.loads(path.read_text()))]))
    assert "reads as 1970-01-01" in refusal(tmp_path, "BTCUSDT_1m.json")


@pytest.mark.parametrize(("extra", "expected"), [
    ({"v": 1.0}, "columns 'volume' and 'v' both map to volume"),
    ({"volume": None}, "no column for volume"),
])
def test_volume_comes_from_volume_or_v_only(tmp_path, extra, expected):
    path = legacy_files.json_records(candles(), tmp_path / "src" / "BTCUSDT_1m.json")
    records = [{k: v for k, v in {**r, **extra}.items() if v is not None}
               for r in json.loads(path.read_text())]
    path.write_text(json.dumps(records))
    assert expected in refusal(tmp_path, "BTCUSDT_1m.json")


@pytest.mark.parametrize(("name", "expected"), [
    ("BTCUSDT_1M.json", "timeframe '1M'"),  # a month, not a minute (legacy defect M6)
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ_1m.json", "is not a Binance spot symbol"),
])
def test_names_that_are_not_a_symbol_and_timeframe_are_refused(tmp_path, name, expected):
    legacy_files.json_records(candles(), tmp_path / "src" / name)
    assert expected in refusal(tmp_path, name)


def test_other_files_are_ignored_and_an_invalid_month_is_refused_alone(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "resultats_choix_des_100tokens.json").write_text("[]")
    (tmp_path / "src" / "BTC\u212aUSDT_1m.json").write_text("[]")  # a Kelvin sign is not a K
    bad = candles().copy()
    bad.loc[bad.index[-1], "high"] = bad["low"].iloc[-1] / 2  # February's last candle: high < low
    legacy_files.json_records(bad, tmp_path / "src" / "BTCUSDT_1m.json")
    report = run(tmp_path / "src", tmp_path / "wh")
    status = {f.file: f.status for f in report.files}
    assert status == {"resultats_choix_des_100tokens.json": "ignored", "BTC\u212aUSDT_1m.json": "ignored",
                      "BTCUSDT_1m.json": "needs attention"}
    jan, feb = report.files[-1].partitions
    assert jan.action == "imported" and feb.action == "refused"
    assert feb.detail.startswith(f"{tmp_path / 'src' / 'BTCUSDT_1m.json'} 2024-02: raw_1m schema violated")
    folder = tmp_path / "wh" / "raw_1m" / "symbol=BTCUSDT"
    assert [p.name for p in folder.iterdir()] == ["month=2024-01.parquet"]


def test_an_unreadable_manifest_is_refused_naming_it_never_reset(tmp_path):
    legacy_files.json_records(candles(), tmp_path / "src" / "BTCUSDT_1m.json")
    manifest = tmp_path / "wh" / "_migrate" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{not json")
    with pytest.raises(MigrationError, match=f"manifest {manifest} is not a JSON object"):
        run(tmp_path / "src", tmp_path / "wh")
    assert manifest.read_text() == "{not json" and not (tmp_path / "wh" / "raw_1m").exists()
