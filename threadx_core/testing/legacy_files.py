"""Legacy TradXPro/ThreadX candle files, written as the legacy tools wrote them, for the tests.

Each writer takes a canonical raw_1m frame (e.g. :func:`threadx_core.testing.candles.toy_candles`)
and writes one layout of ``threadx_core.data.legacy``'s module docstring, so a test can import it
and compare every stored row with the frame it started from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from threadx_core.times import open_time_ms

OHLCV = ["open", "high", "low", "close", "volume"]
_PER_MS = {"s": 1 / 1000, "ms": 1, "us": 1000}


def epoch(frame: pd.DataFrame, unit: str) -> list[int]:
    """``frame``'s open times as epoch integers in ``unit`` (``s``, ``ms`` or ``us``)."""
    return [int(ms * _PER_MS[unit]) for ms in open_time_ms(frame)]


def json_records(frame: pd.DataFrame, path: Path, *, unit: str = "ms", time_key: str = "timestamp") -> Path:
    """TradXPro's ``crypto_data_json/SYMBOL_TF.json``: an array of ``{timestamp, open, high, low,
    close, volume}`` records (the legacy bug T11 wrote seconds where it meant milliseconds)."""
    records = [{time_key: t, **{c: float(row[c]) for c in OHLCV}}
               for t, (_, row) in zip(epoch(frame, unit), frame.iterrows(), strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return path


def parquet_index(frame: pd.DataFrame, path: Path) -> Path:
    """TradXPro's ``crypto_data_parquet/SYMBOL_TF.parquet``: pandas Parquet, the times only in a
    UTC ``DatetimeIndex`` named ``timestamp``, columns open … volume."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.set_index("open_time")[OHLCV].rename_axis("timestamp").to_parquet(path, compression="zstd")
    return path


def parquet_klines(frame: pd.DataFrame, path: Path, *, unit: str = "us") -> Path:
    """A raw Binance kline dump in Parquet: the 12 kline columns under Binance's names, times as
    epoch integers in ``unit`` (the spot archives' microseconds from 2025), ``close_time`` and
    ``ignore`` included."""
    data = {"open_time": epoch(frame, unit), **{c: frame[c].to_numpy() for c in OHLCV},
            "close_time": [t + int(59_999 * _PER_MS[unit]) for t in epoch(frame, unit)],
            "quote_asset_volume": frame["quote_volume"].to_numpy(),
            "number_of_trades": frame["trades"].to_numpy(),
            "taker_buy_base_asset_volume": frame["taker_buy_base"].to_numpy(),
            "taker_buy_quote_asset_volume": frame["taker_buy_quote"].to_numpy(),
            "ignore": ["0"] * len(frame)}
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(data).to_parquet(path, index=False)
    return path


def parquet_range_index(frame: pd.DataFrame, path: Path) -> Path:
    """The legacy migration tool's output (defect M1): the five float columns written with an
    explicit schema that leaves the ``DatetimeIndex`` out, so no timestamp survives."""
    schema = pa.schema([(c, pa.float64()) for c in OHLCV])
    table = pa.Table.from_pandas(frame.set_index("open_time")[OHLCV], schema=schema, preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")
    return path


def csv_epoch(frame: pd.DataFrame, path: Path, *, unit: str = "s", time_key: str = "time") -> Path:
    """A CSV of ``time_key`` (epoch integers in ``unit``) and open … volume."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({time_key: epoch(frame, unit), **{c: frame[c] for c in OHLCV}}).to_csv(path, index=False)
    return path
