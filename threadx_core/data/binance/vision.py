"""Binance monthly kline archives ("Binance Vision", docs/ARCHITECTURE.md, Binance).

Contract
--------
``BinanceVision(vision_url).month_1m(symbol, "YYYY-MM")`` returns the canonical raw_1m frame
(``threadx_core.schema.RAW_1M``, validated) of one finished calendar month ``[first day 00:00,
next month 00:00)`` UTC, read from

    {vision_url}/data/spot/monthly/klines/{SYMBOL}/1m/{SYMBOL}-1m-{YYYY-MM}.zip

after checking its sha256 against the ``.zip.CHECKSUM`` file beside it (``<hex>  <file name>``).
The zip holds one CSV without header (a header line, if any, is skipped) whose 12 columns are those
of the REST klines. Open times are epoch milliseconds before 2025 and epoch **microseconds** for
spot data from 2025-01-01: every value ≥ 10¹⁴ (≈ 1973 in µs, year 5138 in ms) is taken as µs, so
both parse to the same ``datetime64[ms, UTC]`` column.

Errors (nothing is returned): 404 → ``ArchiveNotFoundError`` (e.g. the month is not finished yet);
checksum mismatch, truncated or bad zip, bad CSV, candles outside the month → ``ArchiveError``;
every message names the symbol, the month and the file. 429/5xx/time-outs are retried exactly as
by the REST client (the shared ``HttpRetrier``); 418 raises ``IPBannedError`` and is recorded for
the archive host in the IP's shared record under ``state_dir``
(``threadx_core.data.binance.ip_state``), so that no client asks that host again until it ends.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import requests

from threadx_core import times
from threadx_core.data.binance.http import (
    BinanceError,
    HttpRetrier,
    RetryPolicy,
    Sleep,
    binance_error_detail,
)
from threadx_core.data.binance.ip_state import Clock, IpState
from threadx_core.data.binance.klines import FLOAT_FIELDS, KLINE_FIELDS, raw_1m_frame
from threadx_core.schema import validate_raw_1m
from threadx_core.symbols import check_symbol

ARCHIVE_PATH = "/data/spot/monthly/klines/{symbol}/1m/{symbol}-1m-{month}.zip"
#: Open times at or above this are microseconds (Binance spot archives from 2025-01-01).
MICROS_THRESHOLD = 10**14

_CSV_TYPES = {"open_time": pa.int64(), "close_time": pa.int64(), "trades": pa.int64(),
              "ignore": pa.string(), **{name: pa.float64() for name in FLOAT_FIELDS}}


class ArchiveError(BinanceError):
    """A monthly archive that cannot be trusted or read; names symbol, month and file."""


class ArchiveNotFoundError(ArchiveError):
    """The archive does not exist (HTTP 404), e.g. the month is not finished yet."""


def epoch_ms(open_time: np.ndarray) -> np.ndarray:
    """Epoch milliseconds from archive open times given in ms or µs (per value: ≥ 10¹⁴ is µs)."""
    values = np.asarray(open_time, dtype=np.int64)
    return np.where(values >= MICROS_THRESHOLD, values // 1000, values)


def sha256_from_checksum(text: str, file_name: str, where: str) -> str:
    """The hex digest of a ``.CHECKSUM`` file (``<sha256 hex>  <file name>``)."""
    parts = text.split()
    if len(parts) != 2 or len(parts[0]) != 64 or parts[1] != file_name:
        raise ArchiveError(f"{where}: checksum file is not '<sha256>  {file_name}': {text[:120]!r}")
    return parts[0].lower()


def csv_from_zip(payload: bytes, where: str) -> bytes:
    """The bytes of the single CSV in a zip archive; ``ArchiveError`` for a bad or truncated zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = archive.namelist()
            if len(names) != 1:
                raise ArchiveError(f"{where}: expected one CSV in the zip, found {names}")
            return archive.read(names[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ArchiveError(f"{where}: bad or truncated zip ({exc})") from None


def frame_from_csv(data: bytes, where: str) -> pd.DataFrame:
    """Canonical (unvalidated) raw_1m frame from a kline CSV; ``ArchiveError`` if it does not
    parse as 12 numeric columns."""
    skip = 1 if data[:1].isalpha() else 0
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=list(KLINE_FIELDS), skip_rows=skip),
            convert_options=pa_csv.ConvertOptions(column_types=_CSV_TYPES),
        )
    except pa.ArrowException as exc:
        raise ArchiveError(f"{where}: bad CSV ({exc})") from None
    if any(table.column(name).null_count for name in KLINE_FIELDS[:-1]):
        raise ArchiveError(f"{where}: bad CSV (empty fields)")
    column = {name: table.column(name).to_numpy() for name in KLINE_FIELDS[:-1]}
    return raw_1m_frame(epoch_ms(column["open_time"]),
                        {name: column[name] for name in FLOAT_FIELDS}, column["trades"])


class BinanceVision:
    """Client of Binance's monthly 1m kline archives; see the module docstring."""

    def __init__(self, vision_url: str, *, session: requests.Session | None = None,
                 timeout_s: float = 30.0, max_retries: int = 5, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, state_dir: Path | None = None,
                 ban_default_s: float = 300.0, sleep: Sleep = time.sleep,
                 clock: Clock = time.time, logger: logging.Logger | None = None,
                 rng: random.Random | None = None) -> None:
        """``state_dir`` holds the IP's shared record (``None``: in memory, this client only);
        archives have no request weight, so only bans are recorded there. ``clock`` is the local
        clock (epoch s); ``rng`` draws the backoff jitter (tests pass a deterministic one)."""
        self.vision_url = vision_url.rstrip("/")
        self.logger = logger or logging.getLogger(__name__)
        self.ip_state = IpState(state_dir, self.vision_url, ban_default_s=ban_default_s,
                                clock=clock, sleep=sleep, logger=self.logger)
        self.http = HttpRetrier(session or requests.Session(),
                                RetryPolicy(max_retries, backoff_base_s, backoff_max_s),
                                timeout_s=timeout_s, sleep=sleep, logger=self.logger,
                                rng=rng or random.Random(), ip_state=self.ip_state)

    def month_1m(self, symbol: str, month: str) -> pd.DataFrame:
        """Canonical raw_1m frame for ``month`` ("YYYY-MM"), validated; see the module docstring.
        An invalid symbol (``threadx_core.symbols``) raises ``SymbolError`` before any request."""
        check_symbol(symbol)
        start, end = times.month_bounds(month)
        label = times.month_label(start)
        path = ARCHIVE_PATH.format(symbol=symbol, month=label)
        file_name = path.rsplit("/", 1)[1]
        where = f"{symbol} {label} ({file_name})"
        began = time.perf_counter()
        expected = sha256_from_checksum(self._get(path + ".CHECKSUM", where).text, file_name, where)
        payload = self._get(path, where).content
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected:
            raise ArchiveError(f"{where}: sha256 mismatch (CHECKSUM says {expected}, "
                               f"downloaded {len(payload)} bytes hash to {actual})")
        frame = frame_from_csv(csv_from_zip(payload, where), where)
        _check_inside(frame, start, end, where)
        try:
            frame = validate_raw_1m(frame, where)
        except ValueError as exc:
            raise ArchiveError(str(exc)) from None
        self.logger.info("%s: %d candles, %.2f s", where, len(frame), time.perf_counter() - began)
        return frame

    def _get(self, path: str, where: str) -> requests.Response:
        """A 200 response for ``path``; 404 → ``ArchiveNotFoundError``, other 4xx → ``ArchiveError``."""
        response = self.http.get(self.vision_url + path, None, where)
        if response.status_code == 404:
            raise ArchiveNotFoundError(f"{where}: no archive at {response.url} (HTTP 404; "
                                       "archives exist only for finished months)")
        if response.status_code != 200:
            code, msg = binance_error_detail(response)
            raise ArchiveError(f"{where}: HTTP {response.status_code} ({code}: {msg})")
        return response


def _check_inside(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, where: str) -> None:
    """Every candle of a month archive opens inside ``[start, end)``."""
    outside = frame["open_time"][(frame["open_time"] < start) | (frame["open_time"] >= end)]
    if len(outside):
        raise ArchiveError(f"{where}: candle at {outside.iloc[0].isoformat()} is outside the month")
