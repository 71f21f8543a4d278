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
- Request weight and bans: every attempt first reserves its weight in the machine's shared record
  of the IP (``threadx_core.data.binance.ip_state.IpState``), which waits for the next minute of
  the server clock when the budget is spent and raises ``IPBannedError`` without sending anything
  while a ban is recorded; every answer (or its absence) is then settled there, a 418 recording
  the ban before ``IPBannedError`` is raised.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from threadx_core.errors import ThreadXError

if TYPE_CHECKING:
    from threadx_core.data.binance.ip_state import IpState

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

Sleep = Callable[[float], None]


class BinanceError(ThreadXError, RuntimeError):
    """Any failure to get data from Binance; the message names the symbol and the UTC time."""


class InvalidSymbolError(BinanceError):
    """Binance does not know the symbol (HTTP 400, code −1121)."""


class IPBannedError(BinanceError):
    """HTTP 418: this IP is banned for repeating requests after a 429; stop and wait.

    ``host`` is the banned host (``host:port``) and ``until`` the ban's end (UTC ISO 8601), so
    that a caller can say when fetching may resume."""

    def __init__(self, message: str, *, host: str, until: str | None) -> None:
        super().__init__(message)
        self.host = host
        self.until = until


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
    Each attempt goes through ``ip_state`` (the host's shared weight budget and ban).
    """

    def __init__(self, session: requests.Session, policy: RetryPolicy, *, timeout_s: float,
                 sleep: Sleep, logger: logging.Logger, rng: random.Random,
                 ip_state: IpState) -> None:
        self.session = session
        self.policy = policy
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.logger = logger
        self.rng = rng
        self.ip_state = ip_state

    def get(self, url: str, params: Mapping[str, Any] | None, where: str, *,
            weight: int = 0) -> requests.Response:
        """The response to ``GET url?params`` (request weight ``weight``), after retrying
        transient failures."""
        for retry in range(self.policy.max_retries + 1):
            outcome = self._attempt(url, params, where, retry, weight)
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

    def _attempt(self, url: str, params: Mapping[str, Any] | None, where: str, retry: int,
                 weight: int) -> requests.Response | tuple[float, str]:
        """One request: the response when done, else ``(wait_s, cause)`` to retry after."""
        self.ip_state.reserve(weight, where)
        response = None
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except _TRANSIENT as exc:
            return self.policy.backoff_s(retry, self.rng), f"{type(exc).__name__}: {exc}"
        finally:
            banned_until = self.ip_state.settle(weight, response, where)  # the ban first, then raise
        status = response.status_code
        if status == 418:
            raise IPBannedError(_ban_message(response, where, banned_until, self.ip_state.where),
                                host=self.ip_state.host, until=banned_until)
        if status == 429:
            retry_after = retry_after_s(response)
            wait = self.policy.backoff_s(retry, self.rng) if retry_after is None else retry_after
            return wait, f"HTTP 429 (rate limited, Retry-After {retry_after} s)"
        if status >= 500:
            return self.policy.backoff_s(retry, self.rng), f"HTTP {status}"
        return response


def retry_after_s(response: requests.Response) -> int | None:
    """The ``Retry-After`` header in whole seconds, or None when absent or not an integer."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _ban_message(response: requests.Response, where: str, until: str | None, recorded: str) -> str:
    retry_after = retry_after_s(response)
    wait = f"Retry-After: {retry_after} s" if retry_after is not None else "no Retry-After"
    return (f"{where}: HTTP 418 — this IP is banned by Binance for ignoring rate limits until "
            f"{until} ({wait}); every client waits until then (ban recorded in {recorded})")


def binance_error_detail(response: requests.Response) -> tuple[int | None, str]:
    """Binance's ``(code, msg)`` from an error body, or ``(None, body text)`` if it has none."""
    try:
        body = response.json()
        return int(body["code"]), str(body["msg"])
    except (ValueError, TypeError, KeyError):
        return None, response.text[:200]
