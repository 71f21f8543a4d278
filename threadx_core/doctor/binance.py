"""Binance reachability and this machine's clock against Binance's (``GET /api/v3/time``).

Why the clock matters: the REST client drops the candles still open by *this machine's* clock
(``close_time >= now``, docs/ARCHITECTURE.md, Binance). A clock ahead of Binance's by ``d``
seconds would take a candle for closed up to ``d`` seconds before Binance closes it, and store
its partial volume as final; a clock behind only delays the last candle.

Thresholds on the offset ``server − local`` (measured at the midpoint of the round trip):
``|offset| < CLOCK_WARNING_S`` (1 s) is ok; up to ``CLOCK_ERROR_S`` (30 s) a warning; beyond, an
error (half a candle: a top-up could store an open candle as final). The request weighs 1 and
goes through the IP's shared record like every client's: it is not sent while a ban is recorded
(sending would lengthen the ban), and an HTTP 418 answer is recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import requests

from threadx_core.data.binance.http import IPBannedError
from threadx_core.data.binance.ip_state import IpState, IpStateError
from threadx_core.data.binance.rest import TIME_PATH
from threadx_core.doctor.report import Check, one_line

TIME_WEIGHT = 1
CLOCK_WARNING_S = 1.0
CLOCK_ERROR_S = 30.0

_NAME = "binance"
_CLOCK = "clock offset"


def binance_checks(rest_url: str, *, timeout_s: float, state_dir: Path | None,
                   clock: Callable[[], float] = time.time) -> list[Check]:
    """Reachability of ``rest_url`` and the clock offset from its ``/api/v3/time``: two checks,
    or one error when no time could be read. ``state_dir`` holds the IP's shared record
    (``Settings.binance_state_dir()``); ``clock`` is the local clock (epoch s)."""
    url = rest_url.rstrip("/") + TIME_PATH
    where = f"threadx doctor {TIME_PATH}"
    ip_state = IpState(state_dir, rest_url, clock=clock, sleep=time.sleep,
                       logger=logging.getLogger(__name__))
    try:
        ip_state.reserve(TIME_WEIGHT, where)
    except (IPBannedError, IpStateError) as exc:
        return [Check.error(_NAME, str(exc))]
    response = None
    try:
        sent = clock()
        response = requests.get(url, timeout=timeout_s)
        received = clock()
    except requests.RequestException as exc:
        return [Check.error(_NAME, f"{url} unreachable ({type(exc).__name__}: {one_line(exc)})")]
    finally:
        banned_until = ip_state.settle(TIME_WEIGHT, response, where)
    if banned_until is not None:
        return [Check.error(_NAME, f"{url}: HTTP 418, this IP is banned until {banned_until}")]
    try:
        response.raise_for_status()
        server_ms = int(response.json()["serverTime"])
    except (requests.HTTPError, ValueError, KeyError, TypeError) as exc:
        return [Check.error(_NAME, f"{url} answered HTTP {response.status_code} without a server "
                            f"time ({type(exc).__name__}: {one_line(exc)})")]
    round_trip = received - sent
    reach = Check.ok(_NAME, f"{url} answered in {round_trip * 1000:.0f} ms")
    return [reach, check_offset(server_ms / 1000.0 - (sent + received) / 2, round_trip)]


def check_offset(offset_s: float, round_trip_s: float) -> Check:
    """The clock check of an offset ``server − local`` (seconds), measured over ``round_trip_s``."""
    side = "ahead of" if offset_s < 0 else "behind"
    detail = (f"this machine's clock is {abs(offset_s):.1f} s {side} Binance's "
              f"(server − local = {offset_s:+.3f} s, ±{round_trip_s / 2:.3f} s)")
    if abs(offset_s) < CLOCK_WARNING_S:
        return Check.ok(_CLOCK, detail)
    advice = "; synchronise it (NTP): the open-candle rule reads this clock"
    if abs(offset_s) < CLOCK_ERROR_S:
        return Check.warning(_CLOCK, detail + advice)
    return Check.error(_CLOCK, detail + advice)

