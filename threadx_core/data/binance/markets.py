"""Binance's market lists: every symbol's 24 h ticker and the exchange's trading rules
(docs/ARCHITECTURE.md, Binance), for the symbol universe.

Contract
--------
``BinanceMarkets(client)`` sends through ``client``'s HTTP session, retrier and IP weight record
(``threadx_core.data.binance.rest.BinanceClient``: the same budget, 429/5xx retries and 418 bans
as the klines, shared by every process through the IP state file):

- ``ticker_24hr()``: ``GET /api/v3/ticker/24hr`` without a symbol (every symbol, weight 80);
- ``exchange_info()``: ``GET /api/v3/exchangeInfo`` (weight 20).

Each returns :class:`Answer`: the parsed JSON and the raw body (kept for reproducibility). A
non-200 answer raises ``BinanceError`` with Binance's code and message; a body that is not the
expected JSON (a list of tickers with ``symbol`` and ``quoteVolume``; an object whose
``symbols`` have ``symbol``, ``status``, ``baseAsset`` and ``quoteAsset``) raises
``MalformedResponseError`` naming the endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from threadx_core.data.binance.http import BinanceError, MalformedResponseError, binance_error_detail
from threadx_core.data.binance.rest import BinanceClient

TICKER_PATH = "/api/v3/ticker/24hr"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
#: Binance's request weight of the all-symbols 24 h ticker and of exchangeInfo.
TICKER_WEIGHT = 80
EXCHANGE_INFO_WEIGHT = 20


@dataclass(frozen=True)
class Answer:
    """A parsed answer and its raw body."""

    data: Any
    body: bytes


class BinanceMarkets:
    """The 24 h tickers and the exchange's symbols; see the module docstring."""

    def __init__(self, client: BinanceClient) -> None:
        self.client = client

    def ticker_24hr(self) -> Answer:
        """Every symbol's 24 h statistics (``quoteVolume``: traded volume in the quote asset)."""
        answer = self._get(TICKER_PATH, TICKER_WEIGHT)
        if not isinstance(answer.data, list) or not all(
                isinstance(t, dict) and {"symbol", "quoteVolume"} <= t.keys() for t in answer.data):
            raise MalformedResponseError(f"Binance {TICKER_PATH}: expected a list of tickers with "
                                         "symbol and quoteVolume")
        return answer

    def exchange_info(self) -> Answer:
        """The exchange's symbols with their status, base and quote assets."""
        answer = self._get(EXCHANGE_INFO_PATH, EXCHANGE_INFO_WEIGHT)
        symbols = answer.data.get("symbols") if isinstance(answer.data, dict) else None
        if not isinstance(symbols, list) or not all(
                isinstance(s, dict) and {"symbol", "status", "baseAsset", "quoteAsset"} <= s.keys()
                for s in symbols):
            raise MalformedResponseError(f"Binance {EXCHANGE_INFO_PATH}: expected symbols with "
                                         "symbol, status, baseAsset and quoteAsset")
        return answer

    def _get(self, path: str, weight: int) -> Answer:
        where = f"Binance {path}"
        response = self.client.http.get(self.client.rest_url + path, None, where, weight=weight)
        if response.status_code != 200:
            code, msg = binance_error_detail(response)
            raise BinanceError(f"{where}: HTTP {response.status_code} from Binance (code {code}: {msg})")
        try:
            return Answer(json.loads(response.content), response.content)
        except ValueError:
            raise MalformedResponseError(f"{where}: body is not JSON: {response.content[:80]!r}") from None
