"""The monthly archive client against a real HTTP server on loopback (``FakeBinance``)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from threadx_core import times
from threadx_core.data.binance.http import BinanceError, IPBannedError
from threadx_core.data.binance.vision import (
    MICROS_THRESHOLD,
    ArchiveError,
    ArchiveNotFoundError,
    BinanceVision,
    csv_from_zip,
    epoch_ms,
)
from threadx_core.testing.candles import MaxJitter, Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault


@pytest.fixture
def vision(fake_binance: FakeBinance, sleeps: Sleeps) -> BinanceVision:
    return BinanceVision(fake_binance.url, sleep=sleeps, rng=MaxJitter(), max_retries=2)


def archive_path(symbol: str, month: str, suffix: str = "") -> str:
    return f"/data/spot/monthly/klines/{symbol}/1m/{symbol}-1m-{month}.zip{suffix}"


def first_open_time(fake: FakeBinance, symbol: str, month: str) -> int:
    """The raw first open time in the archive the fake serves."""
    payload = requests.get(fake.url + archive_path(symbol, month), timeout=10).content
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return int(archive.read(archive.namelist()[0]).split(b",", 1)[0])


def test_month_equals_the_provider(fake_binance: FakeBinance, vision: BinanceVision) -> None:
    frame = vision.month_1m("BTCUSDT", "2024-02")
    pd.testing.assert_frame_equal(frame, toy_candles("BTCUSDT", *times.month_bounds("2024-02")))
    assert [r.path for r in fake_binance.requests] == [
        archive_path("BTCUSDT", "2024-02", ".CHECKSUM"), archive_path("BTCUSDT", "2024-02")]


def test_ms_and_us_archives_parse_to_identical_frames(fake_binance: FakeBinance,
                                                      vision: BinanceVision) -> None:
    fake_binance.vision_timestamps = "ms"
    in_ms = vision.month_1m("ETHUSDT", "2024-01")
    assert first_open_time(fake_binance, "ETHUSDT", "2024-01") < MICROS_THRESHOLD
    fake_binance.vision_timestamps = "us"
    in_us = vision.month_1m("ETHUSDT", "2024-01")
    assert first_open_time(fake_binance, "ETHUSDT", "2024-01") > MICROS_THRESHOLD

    pd.testing.assert_frame_equal(in_ms, in_us)
    pd.testing.assert_frame_equal(in_us, toy_candles("ETHUSDT", *times.month_bounds("2024-01")))


def test_archives_switch_to_microseconds_in_2025(fake_binance: FakeBinance,
                                                 vision: BinanceVision) -> None:
    fake_binance.now = pd.Timestamp("2025-03-01", tz="UTC")
    december, january = vision.month_1m("BTCUSDT", "2024-12"), vision.month_1m("BTCUSDT", "2025-01")
    assert first_open_time(fake_binance, "BTCUSDT", "2024-12") == 1733011200000
    assert first_open_time(fake_binance, "BTCUSDT", "2025-01") == 1735689600000000
    both = pd.concat([december, january], ignore_index=True)
    expected = toy_candles("BTCUSDT", pd.Timestamp("2024-12-01", tz="UTC"),
                           pd.Timestamp("2025-02-01", tz="UTC"))
    pd.testing.assert_frame_equal(both, expected)


@given(st.integers(0, 2**53 // 1000))
def test_epoch_ms_reads_both_units(ms: int) -> None:
    """Any time from 1973 (where µs values pass 10¹⁴) on reads the same in ms and in µs."""
    if ms * 1000 >= MICROS_THRESHOLD:
        assert epoch_ms(np.array([ms * 1000]))[0] == ms
    if ms < MICROS_THRESHOLD:
        assert epoch_ms(np.array([ms]))[0] == ms


def test_checksum_mismatch_stores_nothing(fake_binance: FakeBinance, vision: BinanceVision) -> None:
    fake_binance.inject(Fault.bad_checksum())
    with pytest.raises(ArchiveError, match=r"BTCUSDT 2024-02 \(BTCUSDT-1m-2024-02\.zip\): sha256 "
                                           "mismatch"):
        vision.month_1m("BTCUSDT", "2024-02")


def test_truncated_zip_is_an_archive_error(fake_binance: FakeBinance, vision: BinanceVision) -> None:
    """The checksum matches the full file: a download cut short fails it."""
    fake_binance.inject(Fault.truncated_zip())
    with pytest.raises(ArchiveError, match=r"BTCUSDT 2024-02 \(BTCUSDT-1m-2024-02\.zip\)"):
        vision.month_1m("BTCUSDT", "2024-02")


def test_bad_zip_with_matching_checksum_is_an_archive_error(fake_binance: FakeBinance) -> None:
    """A truncated zip whose CHECKSUM matches it (published broken) still fails, in the zip
    reader: the checksum is not the only guard."""
    fake_binance.inject(Fault.truncated_zip())
    payload = requests.get(fake_binance.url + archive_path("BTCUSDT", "2024-02"), timeout=10).content
    with pytest.raises(ArchiveError, match=r"BTCUSDT 2024-02.*bad or truncated zip"):
        csv_from_zip(payload, "BTCUSDT 2024-02 (BTCUSDT-1m-2024-02.zip)")


def test_bad_csv_is_an_archive_error(fake_binance: FakeBinance, vision: BinanceVision) -> None:
    fake_binance.inject(Fault.bad_csv(), times=2)  # the checksum and the zip
    with pytest.raises(ArchiveError, match=r"BTCUSDT 2024-02 \(BTCUSDT-1m-2024-02\.zip\): bad CSV"):
        vision.month_1m("BTCUSDT", "2024-02")


def test_unfinished_month_is_not_found(fake_binance: FakeBinance, vision: BinanceVision) -> None:
    """The fake clock is in March 2024: its archive does not exist yet."""
    with pytest.raises(ArchiveNotFoundError, match=r"BTCUSDT 2024-03 .*404"):
        vision.month_1m("BTCUSDT", "2024-03")
    assert len(fake_binance.requests) == 1


def test_unknown_symbol_is_not_found(vision: BinanceVision) -> None:
    with pytest.raises(ArchiveNotFoundError, match="NOPEUSDT 2024-02"):
        vision.month_1m("NOPEUSDT", "2024-02")


def test_5xx_and_time_outs_are_retried(fake_binance: FakeBinance, sleeps: Sleeps) -> None:
    fake_binance.preload("BTCUSDT", ["2024-02"], archives=True)  # the time-out is short
    fake_binance.inject(Fault.server_error(503))
    fake_binance.inject(Fault.delay(30.0))
    vision = BinanceVision(fake_binance.url, sleep=sleeps, rng=MaxJitter(), timeout_s=0.5)
    frame = vision.month_1m("BTCUSDT", "2024-02")
    assert len(frame) == len(toy_candles("BTCUSDT", *times.month_bounds("2024-02")))
    assert sleeps == [0.5, 1.0]
    assert len(fake_binance.requests) == 4  # checksum ×3, zip


def test_candles_that_break_the_schema_are_an_archive_error(sleeps: Sleeps) -> None:
    def incoherent(symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = toy_candles(symbol, start, end)
        frame.loc[100, "high"] = frame.loc[100, "low"] - 1.0
        return frame

    with FakeBinance(incoherent, ["BTCUSDT"], now=pd.Timestamp("2024-06-01", tz="UTC")) as fake:
        vision = BinanceVision(fake.url, sleep=sleeps)
        with pytest.raises(ArchiveError, match=r"(?s)BTCUSDT 2024-02 .*OHLC incoherent.*2024-02-01 01:41"):
            vision.month_1m("BTCUSDT", "2024-02")


def test_gives_up_after_max_retries(fake_binance: FakeBinance, vision: BinanceVision,
                                    sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.server_error(502), times=3)
    with pytest.raises(BinanceError, match=r"BTCUSDT 2024-02 .*gave up after 3 attempts.*HTTP 502"):
        vision.month_1m("BTCUSDT", "2024-02")
    assert sleeps == [0.5, 1.0]


def test_418_is_never_retried(fake_binance: FakeBinance, vision: BinanceVision,
                              sleeps: Sleeps) -> None:
    fake_binance.inject(Fault.banned())
    with pytest.raises(IPBannedError, match="BTCUSDT 2024-02"):
        vision.month_1m("BTCUSDT", "2024-02")
    assert len(fake_binance.requests) == 1 and sleeps == []
