"""CoinGecko's market-cap ranking: ``GET /api/v3/coins/markets``, paged.

Contract
--------
``CoinGeckoClient(base_url).markets(count)`` asks
``{base_url}/api/v3/coins/markets?vs_currency=usd&order=market_cap_desc&per_page=&page=`` for pages
1, 2, … (``per_page`` = ``min(count, 250)``, CoinGecko's largest page) until ``count`` coins
came or a page is short, and returns :class:`Markets`: the coins (CoinGecko's dicts, in its
order) and the raw body of every page (kept for reproducibility).

- Rate limits: CoinGecko answers HTTP 429 (with or without ``Retry-After``) when its per-minute
  call budget is spent, and 5xx when overloaded; these, connection errors and time-outs are
  retried by the same retrier as Binance's (``threadx_core.data.binance.http.HttpRetrier``:
  ``Retry-After`` seconds, else full-jitter exponential backoff, at most ``max_retries``
  retries). CoinGecko has no request-weight header and no 418 ban, so its weight record is
  private to the client, in memory, and every call costs 0 there.
- Every failure is a ``CoinGeckoError`` naming the page: retries spent, another 4xx (with
  CoinGecko's ``status.error_message``), or a body that is not a JSON list of coins with ``id``,
  ``symbol``, ``name`` and ``market_cap_rank``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import requests

from threadx_core.data.binance.http import BinanceError, HttpRetrier, RetryPolicy, Sleep
from threadx_core.data.binance.ip_state import IpState
from threadx_core.errors import ThreadXError

MARKETS_PATH = "/api/v3/coins/markets"
MAX_PER_PAGE = 250
_FIELDS = ("id", "symbol", "name", "market_cap_rank")


class CoinGeckoError(ThreadXError, RuntimeError):
    """A ``/coins/markets`` page could not be had; the message names the page."""


@dataclass(frozen=True)
class Markets:
    """The coins by market cap (CoinGecko's dicts, best first) and each page's raw body."""

    coins: list[dict[str, Any]]
    pages: list[bytes]


class CoinGeckoClient:
    """The ``/coins/markets`` client; see the module docstring for the full contract."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None, max_retries: int = 5,
                 timeout_s: float = 10.0, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 sleep: Sleep = time.sleep, logger: logging.Logger | None = None,
                 rng: random.Random | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.logger = logger or logging.getLogger(__name__)
        ip_state = IpState(None, self.base_url, clock=time.time, sleep=sleep, logger=self.logger)
        self.http = HttpRetrier(session or requests.Session(),
                                RetryPolicy(max_retries, backoff_base_s, backoff_max_s),
                                timeout_s=timeout_s, sleep=sleep, logger=self.logger,
                                rng=rng or random.Random(), ip_state=ip_state)

    def markets(self, count: int) -> Markets:
        """The ``count`` best-ranked coins by market cap (fewer if CoinGecko has fewer)."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        per_page = min(count, MAX_PER_PAGE)
        coins: list[dict[str, Any]] = []
        pages: list[bytes] = []
        for page in range(1, math.ceil(count / per_page) + 1):
            where = f"CoinGecko {MARKETS_PATH} page {page} (per_page {per_page})"
            body = self._page(page, per_page, where)
            pages.append(body)
            rows = _parse(body, where)
            coins.extend(rows)
            if len(rows) < per_page:
                break
        return Markets(coins[:count], pages)

    def _page(self, page: int, per_page: int, where: str) -> bytes:
        params = {"vs_currency": "usd", "order": "market_cap_desc", "per_page": per_page,
                  "page": page, "sparkline": "false"}
        try:
            response = self.http.get(self.base_url + MARKETS_PATH, params, where)
        except BinanceError as exc:  # the shared retrier's "gave up": CoinGecko's, not Binance's
            raise CoinGeckoError(str(exc)) from None
        if response.status_code != 200:
            raise CoinGeckoError(f"{where}: HTTP {response.status_code} from CoinGecko: {_detail(response)}")
        return response.content


def _parse(body: bytes, where: str) -> list[dict[str, Any]]:
    try:
        rows = json.loads(body)
    except ValueError:
        raise CoinGeckoError(f"{where}: body is not JSON: {body[:80]!r}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CoinGeckoError(f"{where}: expected a JSON list of coins, got {str(rows)[:80]}")
    for i, row in enumerate(rows):
        missing = [f for f in _FIELDS if f not in row]
        if missing:
            raise CoinGeckoError(f"{where}: coin {i} ({row.get('id', '?')}) lacks {missing}")
    return rows


def _detail(response: requests.Response) -> str:
    """CoinGecko's ``status.error_message`` (or ``error``), else the body's start."""
    try:
        body = response.json()
        return str(body.get("status", {}).get("error_message") or body["error"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return response.text[:200]
