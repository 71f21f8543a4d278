"""The HTTP side of Binance, shared by the REST client and the monthly archives
(docs/ARCHITECTURE.md, Binance).

Contract
--------
- Errors: every failure to get data is a ``BinanceError`` whose message names the symbol and the
  time (UTC ISO 8601) at fault; ``IPBannedError`` (HTTP 418), ``InvalidSymbolError`` (HTTP 400,
  code −1121) and ``MalformedResponseError`` (a body that does not parse) are its kinds.
- Retries (``HttpRetrier`` under a ``RetryPolicy``: ``max_retries`` after the first attempt,
  shared by every kind below): 429 waits ``Retry-After`` seconds; 5xx, connection errors and
  time-outs wait a full-jitter exponential backoff, uniform in ``[0, min(backoff_max_s,
  backoff_base_s * 2**n)]`` for the n-th retry (n = 0, 1, …). When retries run out a
  ``BinanceError`` names the last cause. 418 raises ``IPBannedError`` at once, never retried;
  any other status is returned for the caller to judge.
- Request weight (``WeightBudget``): reads ``X-MBX-USED-WEIGHT-1M`` and the server clock
  (``Date`` header) from every response, and tells how long to wait before a request that
  would take the used weight above ``limit * headroom``: until the next minute of the
  *server's* clock, so a client slows down before Binance answers 429.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

Sleep = Callable[[float], None]


class BinanceError(RuntimeError):
    """Any failure to get data from Binance; the message names the symbol and the UTC time."""


class InvalidSymbolError(BinanceError):
    """Binance does not know the symbol (HTTP 400, code −1121)."""


class IPBannedError(BinanceError):
    """HTTP 418: this IP is banned for repeating requests after a 429; stop and wait."""


class MalformedResponseError(BinanceError):
    """A response that does not parse as klines (JSON, row shape, numbers, time order)."""



@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_retries`` retries after the first attempt; the n-th retry (n = 0, 1, …) after
    a 5xx or a network failure waits ``backoff_s(n)`` seconds (full jitter)."""

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff_cap_s(self, retry: int) -> float:
        """Upper bound of the n-th backoff: ``min(backoff_max_s, backoff_base_s * 2**n)``."""
        return min(self.backoff_max_s, self.backoff_base_s * 2.0 ** retry)

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """Full-jitter backoff: uniform in ``[0, backoff_cap_s(retry)]``."""
        return rng.uniform(0.0, self.backoff_cap_s(retry))


class HttpRetrier:
    """``GET`` with Binance's retry rules, shared by the REST and the archive clients.

    Returns the first response that is neither 429, 418 nor 5xx; the caller judges any other
    status. 418 raises ``IPBannedError`` at once. ``where`` (symbol and time) starts every message.
    """

    def __init__(self, session: requests.Session, policy: RetryPolicy, *, timeout_s: float,
                 sleep: Sleep, logger: logging.Logger, rng: random.Random,
                 before_attempt: Callable[[str], None] | None = None,
                 on_response: Callable[[requests.Response], None] | None = None) -> None:
        self.session = session
        self.policy = policy
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.logger = logger
        self.rng = rng
        self.before_attempt = before_attempt
        self.on_response = on_response

    def get(self, url: str, params: Mapping[str, Any] | None, where: str) -> requests.Response:
        """The response to ``GET url?params``, after retrying transient failures."""
        for retry in range(self.policy.max_retries + 1):
            outcome = self._attempt(url, params, where, retry)
            if isinstance(outcome, requests.Response):
                return outcome
            wait, cause = outcome
            if retry == self.policy.max_retries:
                break
            self.logger.warning("%s: %s; retry %d/%d in %.2f s", where, cause, retry + 1,
                                self.policy.max_retries, wait)
            self.sleep(wait)
        raise BinanceError(f"{where}: gave up after {self.policy.max_retries + 1} attempts; "
                           f"last cause: {cause}")

    def _attempt(self, url: str, params: Mapping[str, Any] | None, where: str,
                 retry: int) -> requests.Response | tuple[float, str]:
        """One request: the response when done, else ``(wait_s, cause)`` to retry after."""
        if self.before_attempt is not None:
            self.before_attempt(where)
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except _TRANSIENT as exc:
            return self.policy.backoff_s(retry, self.rng), f"{type(exc).__name__}: {exc}"
        if self.on_response is not None:
            self.on_response(response)
        status = response.status_code
        if status == 418:
            raise IPBannedError(_ban_message(response, where))
        if status == 429:
            retry_after = _retry_after_s(response)
            wait = self.policy.backoff_s(retry, self.rng) if retry_after is None else retry_after
            return wait, f"HTTP 429 (rate limited, Retry-After {retry_after} s)"
        if status >= 500:
            return self.policy.backoff_s(retry, self.rng), f"HTTP {status}"
        return response


def _retry_after_s(response: requests.Response) -> int | None:
    """The ``Retry-After`` header in whole seconds, or None when absent or not an integer."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _ban_message(response: requests.Response, where: str) -> str:
    retry_after = _retry_after_s(response)
    wait = f" (Retry-After: {retry_after} s)" if retry_after is not None else ""
    return (f"{where}: HTTP 418 — this IP is banned by Binance for ignoring rate limits; stop "
            f"and wait before sending any request{wait}")


def binance_error_detail(response: requests.Response) -> tuple[int | None, str]:
    """Binance's ``(code, msg)`` from an error body, or ``(None, body text)`` if it has none."""
    try:
        body = response.json()
        return int(body["code"]), str(body["msg"])
    except (ValueError, TypeError, KeyError):
        return None, response.text[:200]


class WeightBudget:
    """The client's view of Binance's request-weight window (one UTC minute of the server clock).

    ``observe`` reads ``X-MBX-USED-WEIGHT-1M`` and the server clock (``Date`` header) from a
    response; ``wait_s(cost)`` is how long to wait before a request of weight ``cost`` so that the
    used weight stays within ``limit * headroom`` (0 when it fits or the window has rolled over).
    """

    def __init__(self, limit: int, headroom: float, clock: Callable[[], float] = time.time) -> None:
        self.ceiling = limit * headroom
        self.used = 0
        self._clock = clock
        self._window: int | None = None
        self._offset_s = 0.0

    def observe(self, response: requests.Response) -> None:
        """Record the used weight reported by ``response`` (ignored when absent)."""
        used = response.headers.get(WEIGHT_HEADER, "").strip()
        if not used.isdigit():
            return
        date = response.headers.get("Date")
        if date:
            self._offset_s = email.utils.parsedate_to_datetime(date).timestamp() - self._clock()
        self.used = int(used)
        self._window = int(self._server_now() // 60)

    def wait_s(self, cost: int) -> float:
        """Seconds to wait before spending ``cost`` (until the server's next minute if needed)."""
        now = self._server_now()
        if self._window != int(now // 60) or self.used + cost <= self.ceiling:
            return 0.0
        return 60.0 - now % 60.0

    def window_elapsed(self) -> None:
        """Forget the used weight after waiting for a new window."""
        self.used = 0
        self._window = None

    def _server_now(self) -> float:
        return self._clock() + self._offset_s

