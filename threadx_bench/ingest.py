"""Ingestion throughput: one symbol-year of 1m candles from the loopback Binance server.

Stages, timed separately on the same pages the REST client requests (1000 candles each):
``fetch`` (HTTP round trips to the local server, in this process, bodies kept as bytes),
``parse`` (what the client does with the bodies of one call: ``parse_klines_bodies``, i.e. the
structural scan of each page and one batched Arrow conversion, then the canonical frame),
``validate`` (the pandera raw_1m schema),
``write`` (atomic Parquet per month), then ``resample`` (the year to every derived timeframe).
The server's cache is primed by an untimed end-to-end pass of the real ``BinanceClient``.

``latency_ms`` makes the server hold every answer that long (a network round trip, no CPU), so
the same local work can be weighed against a fetch that is not on loopback.
``break_even_latency_ms`` is the server latency from which the local work would be at most
``TARGET`` of the fetch, from this run's figures (a page's fetch grows one for one with the
latency): ``latency_ms`` + (local work / ``TARGET`` − fetch) / pages.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import pandas as pd
import requests

from threadx_core import storage, times
from threadx_core.data.binance.klines import klines_frame, parse_klines_bodies
from threadx_core.data.binance.rest import KLINES_PATH, PAGE_LIMIT, BinanceClient
from threadx_core.data.resample import resample_all
from threadx_core.data.synthetic import synthetic
from threadx_core.schema import validate_raw_1m
from threadx_core.testing.fake_binance import FakeBinance
from threadx_core.times import MINUTE_MS, to_ms

#: The issue's target for (parse + validate + write) / fetch.
TARGET = 0.10


def _month_pages(session: requests.Session, url: str, symbol: str, month: str) -> list[bytes]:
    start, end = (to_ms(t) for t in times.month_bounds(month))
    bodies = []
    for first in range(start, end, PAGE_LIMIT * MINUTE_MS):
        params = {"symbol": symbol, "interval": "1m", "startTime": first, "endTime": end - 1,
                  "limit": PAGE_LIMIT}
        response = session.get(url + KLINES_PATH, params=params, timeout=30)
        response.raise_for_status()
        bodies.append(response.content)
    return bodies


def _parse(bodies: list[bytes], where: str) -> pd.DataFrame:
    """The client's conversion: every page of the month in one batch, then one frame."""
    return klines_frame(parse_klines_bodies(bodies, [where] * len(bodies)))


def run(symbol: str = "BTCUSDT", year: int = 2024, latency_ms: float = 0.0,
        n_months: int = 12) -> dict[str, Any]:
    """Time each stage for ``symbol`` over the first ``n_months`` of ``year``, the server
    answering after ``latency_ms``; returns seconds per stage, candles, pages, the ratio
    (parse + validate + write) / fetch and the break-even round trip (ms)."""
    labels = times.month_span(f"{year}-01", f"{year}-{n_months:02d}")
    now = times.month_bounds(labels[-1])[1] + pd.Timedelta(days=1)
    stages = dict.fromkeys(("fetch", "parse", "validate", "write", "client_end_to_end"), 0.0)
    frames, pages = [], 0
    with FakeBinance(lambda s, a, b: synthetic(s, a, b), [symbol], now=now, weight_limit=10**9,
                     latency_s=latency_ms / 1000) as server, \
            tempfile.TemporaryDirectory() as root, requests.Session() as session:
        client = BinanceClient(server.url, session=session, weight_limit=10**9)
        for month in labels:
            first, last = times.month_bounds(month)
            began = time.perf_counter()
            client.klines_1m(symbol, first, last, now=now)
            stages["client_end_to_end"] += time.perf_counter() - began
        for month in labels:
            began = time.perf_counter()
            bodies = _month_pages(session, server.url, symbol, month)
            pages += len(bodies)
            parsed_at = time.perf_counter()
            frame = _parse(bodies, f"{symbol} {month}")
            validated_at = time.perf_counter()
            validate_raw_1m(frame, f"{symbol} {month}")
            written_at = time.perf_counter()
            storage.write_partition(frame, storage.partition_path(root, "raw_1m", symbol, month))
            done = time.perf_counter()
            stages["fetch"] += parsed_at - began
            stages["parse"] += validated_at - parsed_at
            stages["validate"] += written_at - validated_at
            stages["write"] += done - written_at
            frames.append(frame)
    year_frame = pd.concat(frames, ignore_index=True)
    began = time.perf_counter()
    resample_all(year_frame, times.DERIVED)
    stages["resample_8_timeframes"] = time.perf_counter() - began
    local = stages["parse"] + stages["validate"] + stages["write"]
    return {"symbol": symbol, "year": year, "latency_ms": latency_ms, "candles": len(year_frame),
            "pages": pages, **{f"{k}_s": round(v, 3) for k, v in stages.items()},
            "parse_validate_write_over_fetch": round(local / stages["fetch"], 4),
            "break_even_latency_ms": round(latency_ms + 1000 * (local / TARGET - stages["fetch"]) / pages, 1),
            "candles_per_s_end_to_end": round(len(year_frame) / stages["client_end_to_end"])}
