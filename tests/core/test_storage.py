"""The warehouse: Hive layout, round trips, and atomic writes that never lose good data."""

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from threadx_core import schema, storage


def frame(n: int, start: str = "2024-01-01", price: float = 100.0) -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="min", tz="UTC").astype(schema.TIME_DTYPE)
    prices = np.full(n, price)
    return pd.DataFrame({
        "open_time": times, "open": prices, "high": prices + 1, "low": prices - 1, "close": prices,
        "volume": np.ones(n), "quote_volume": prices, "trades": np.ones(n, dtype=np.int64),
        "taker_buy_base": np.full(n, 0.5), "taker_buy_quote": prices / 2, "filled": np.zeros(n, bool),
    })


def test_partition_path_is_hive_style(tmp_path):
    path = storage.partition_path(tmp_path, "ohlcv_1h", "BTCUSDT", "2024-03")
    assert path == tmp_path / "ohlcv_1h" / "symbol=BTCUSDT" / "month=2024-03.parquet"


def test_round_trip_keeps_dtypes_values_and_attrs(tmp_path):
    df = frame(10)
    df.attrs = {"fetched_through": "2024-02-01T00:00:00+00:00", "source": "synthetic"}
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    written = storage.write_partition(df, path)
    back = storage.read_partition(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs == df.attrs
    assert written == path.stat().st_size
    assert pq.ParquetFile(path).metadata.row_group(0).column(1).compression == "ZSTD"


def test_whole_asset_reads_in_one_dataset_call_with_symbol_column(tmp_path):
    for symbol, month in [("BTCUSDT", "2024-01"), ("BTCUSDT", "2024-02"), ("ETHUSDT", "2024-01")]:
        path = storage.partition_path(tmp_path, "raw_1m", symbol, month)
        storage.write_partition(frame(5, f"{month}-01"), path)
    everything = storage.read_asset(tmp_path, "raw_1m")
    assert len(everything) == 15
    assert everything.groupby("symbol").size().to_dict() == {"BTCUSDT": 10, "ETHUSDT": 5}


@pytest.mark.drill  # docs/OPERATIONS.md, Drills
def test_failed_write_leaves_previous_partition_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    storage.write_partition(frame(10, price=100.0), path)
    before = path.read_bytes()

    def crash_midway(table, sink, **kwargs):
        sink.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(storage.pq, "write_table", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        storage.write_partition(frame(20, price=200.0), path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_reading_a_missing_partition_names_it(tmp_path):
    path = storage.partition_path(tmp_path, "raw_1m", "BTCUSDT", "2024-01")
    with pytest.raises(FileNotFoundError, match="symbol=BTCUSDT"):
        storage.read_partition(path)


def test_exports_replace_an_earlier_runs_files_under_their_prefix_only(tmp_path):
    storage.write_exports(tmp_path, "best_by_run", {"best_by_run.csv": b"a", "best_by_run_trades.csv": b"t",
                                                    "best_by_run_heatmap.png": b"h"})
    (tmp_path / "1h_walk_forward.csv").write_bytes(b"other report")
    written = storage.write_exports(tmp_path, "best_by_run", {"best_by_run.csv": b"b"})
    assert written == [tmp_path / "best_by_run.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1h_walk_forward.csv", "best_by_run.csv"]
    assert (tmp_path / "best_by_run.csv").read_bytes() == b"b"


def test_an_export_outside_its_prefix_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "1h_selection.json").write_bytes(b"{}")
    with pytest.raises(ValueError, match="starting with '1h_'"):
        storage.write_exports(tmp_path, "1h_", {"1h_walk_forward.csv": b"x", "4h_selection.json": b"y"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1h_selection.json"]
