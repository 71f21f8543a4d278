"""A CoinGecko-compatible HTTP server on loopback, for the universe's tests.

``FakeCoinGecko(coins)`` serves, on ``127.0.0.1`` with an ephemeral port (``.url``),
``GET /api/v3/coins/markets`` as CoinGecko does: ``vs_currency`` (only ``usd`` here), ``order``
(only ``market_cap_desc``), ``per_page`` 1..250 (default 100), ``page`` from 1 (default 1); the
body is a JSON list of coin objects (:func:`coin` builds one with CoinGecko's fields), ``[]``
past the last page. Errors are CoinGecko's JSON ``{"error": …}`` (HTTP 400) and, for the rate
limit, ``{"status": {"error_code": 429, "error_message": …}}`` (HTTP 429).

Fault injection: ``rate_limit(times, retry_after_s)`` answers the next ``times`` requests with
429, with ``Retry-After`` when given (CoinGecko sends it on some plans only). ``requests`` records
every request (path, params, status). ``coins`` may be changed between requests.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from threadx_core.testing.fake_binance import _Handler, _Reply, _Server  # the same loopback HTTP plumbing
from threadx_core.universe.coingecko import MARKETS_PATH, MAX_PER_PAGE


def coin(coin_id: str, symbol: str, name: str, rank: int, *, market_cap: float | None = None,
         price: float = 10.0) -> dict[str, Any]:
    """A ``/coins/markets`` entry with CoinGecko's main fields (``symbol`` lower case, as it sends)."""
    cap = market_cap if market_cap is not None else 1e12 / rank
    return {"id": coin_id, "symbol": symbol.lower(), "name": name, "image": "", "current_price": price,
            "market_cap": cap, "market_cap_rank": rank, "fully_diluted_valuation": cap,
            "total_volume": cap / 20, "price_change_percentage_24h": 0.0,
            "last_updated": "2024-03-01T00:00:00.000Z"}


class FakeCoinGecko:
    """``/api/v3/coins/markets`` on loopback; see the module docstring. A context manager."""

    def __init__(self, coins: list[dict[str, Any]]) -> None:
        self.coins = list(coins)
        self.stopping = threading.Event()
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._rate_limits: list[int | None] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeCoinGecko:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[assignment]  # the handler asks it for replies
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-coingecko")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        assert self._server is not None, "FakeCoinGecko is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def clock_s(self) -> float:
        """The ``Date`` header's clock: the wall clock."""
        return time.time()

    def rate_limit(self, times: int, retry_after_s: int | None = None) -> None:
        """Answer the next ``times`` requests HTTP 429 (with ``Retry-After`` when given)."""
        with self._lock:
            self._rate_limits.extend([retry_after_s] * times)

    def handle(self, path: str, params: dict[str, str]) -> _Reply:
        """The reply to ``GET path?params``, recorded."""
        reply = self._answer(path, params)
        with self._lock:
            self.requests.append((path, params, reply.status))
        return reply

    def _answer(self, path: str, params: dict[str, str]) -> _Reply:
        with self._lock:
            limited = bool(self._rate_limits)
            retry_after = self._rate_limits.pop(0) if limited else None
        if limited:
            reply = _json(429, {"status": {"error_code": 429, "error_message": "You've exceeded the Rate "
                                           "Limit. Please visit https://www.coingecko.com/en/api/pricing "
                                           "to subscribe to our API plans for higher rate limits."}})
            if retry_after is not None:
                reply.headers["Retry-After"] = str(retry_after)
            return reply
        if path != MARKETS_PATH:
            return _json(404, {"error": "Not Found"})
        if params.get("vs_currency") != "usd":
            return _json(400, {"error": "invalid vs_currency"})
        if params.get("order", "market_cap_desc") != "market_cap_desc":
            return _json(400, {"error": "this fake orders by market_cap_desc only"})
        try:
            per_page, page = int(params.get("per_page", 100)), int(params.get("page", 1))
        except ValueError:
            return _json(400, {"error": "per_page and page must be integers"})
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return _json(400, {"error": f"per_page must be 1..{MAX_PER_PAGE}, page >= 1"})
        with self._lock:
            ranked = sorted(self.coins, key=lambda c: c["market_cap_rank"])
        return _json(200, ranked[(page - 1) * per_page:page * per_page])


def _json(status: int, body: Any) -> _Reply:
    return _Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8"})
