"""The machine's one record of Binance's per-IP limits, shared by every client, thread and process
(docs/ARCHITECTURE.md, Binance).

Binance counts request weight per IP and per minute of its own clock (``X-MBX-USED-WEIGHT-1M``)
and bans the IP (HTTP 418) when it keeps asking after a 429; every request during a ban
lengthens it. Both belong to the machine, not to one client: concurrent runs (separate
processes) must spend one budget and honour one ban.

Contract
--------
- Where: ``<state_dir>/ip-state.json``, changed only under an exclusive ``fcntl.flock`` on
  ``<state_dir>/ip-state.lock``: each update reads the file, changes it, writes a temporary file
  in the same folder and renames it over the old one, so a reader sees the old or the new state,
  never half of one. ``state_dir=None`` keeps the same record in memory, private to one client.
- What, per host (``host:port`` of the base URL):
  ``window``: the minute of the server clock (epoch s // 60) that ``used`` counts;
  ``used``: the highest ``X-MBX-USED-WEIGHT-1M`` answered in that window, plus the weight of any
  request that failed without an answer (the server may have counted it);
  ``reserved``: the weight of requests in flight, by process id (the reservations of a process
  that no longer exists are dropped; so one state folder serves one machine's processes);
  ``clock_offset_s``: server clock − local clock, from the last ``Date`` header;
  ``banned_until``: the end of the ban (UTC ISO 8601), or null.
  ``window`` moves only with the server's ``Date`` headers: a reply's used weight belongs to the
  minute of its ``Date``; a minute later than ``window`` starts a new window (``used`` from that
  reply), an earlier one is stale and ignored. Once the estimated server clock has passed
  ``window``, ``used`` is taken as 0 (a minute nobody has seen an answer in yet).
- Before a request (``reserve``): an active ban raises ``IPBannedError`` at once, no request sent.
  Otherwise the request's weight is reserved when ``used + reserved + weight <= limit × headroom``
  (or when nothing is used nor reserved), else the client sleeps until the next minute of the
  server clock and tries again. In-flight reservations count whatever the minute, so requests
  still travelling when a minute turns are counted in the next one too.
- After the answer (``settle``): the reservation is released and the used weight recorded; a 418
  records the ban first, until the server's ``Date`` + ``Retry-After`` seconds (``ban_default_s``
  without the header), keeping a later end already recorded.
- A state file that cannot be read, parsed or written is an ``IpStateError`` naming the file; it
  is never reset, because forgetting a ban would send requests that lengthen it. Fix or delete the
  file (deleting it forgets the ban and the minute's weight).
- Time base: epoch seconds. The server clock is estimated as ``clock() + clock_offset_s``, and never
  earlier than the minute a client last slept until (so a sleep that is only recorded, as in tests,
  still moves the client on).
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from threadx_core.data.binance.http import WEIGHT_HEADER, BinanceError, IPBannedError, Sleep, retry_after_s
from threadx_core.processes import alive

STATE_FILE = "ip-state.json"
LOCK_FILE = "ip-state.lock"
FORMAT_VERSION = 1

Clock = Callable[[], float]


class IpStateError(BinanceError):
    """The shared IP state file cannot be read, parsed or written; the message names the file."""


@dataclass
class _Host:
    """One host's record (see the module docstring for each field)."""

    window: int = -1
    used: int = 0
    reserved: dict[int, int] = field(default_factory=dict)
    clock_offset_s: float = 0.0
    banned_until: float | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> _Host:
        """Parse one host's entry; ``ValueError``/``TypeError``/``KeyError`` when malformed."""
        banned = raw["banned_until"]
        return cls(window=_int(raw["window"]), used=_int(raw["used"]),
                   reserved={int(pid): _int(weight) for pid, weight in raw["reserved"].items()},
                   clock_offset_s=float(raw["clock_offset_s"]),
                   banned_until=None if banned is None else datetime.fromisoformat(banned).timestamp())

    def to_json(self) -> dict[str, Any]:
        banned = (None if self.banned_until is None
                  else datetime.fromtimestamp(self.banned_until, UTC).isoformat())
        return {"window": self.window, "used": self.used,
                "reserved": {str(pid): weight for pid, weight in sorted(self.reserved.items())},
                "clock_offset_s": self.clock_offset_s, "banned_until": banned}

    def release(self, pid: int, weight: int) -> None:
        left = self.reserved.get(pid, 0) - weight
        if left > 0:
            self.reserved[pid] = left
        else:
            self.reserved.pop(pid, None)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


class _Store(Protocol):
    """Where the record lives: the text of the state file (None: none yet), read and written
    under ``lock()``; failures are ``IpStateError`` naming ``where``."""

    where: str

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def read(self) -> str | None: ...

    def write(self, text: str) -> None: ...


class _MemoryStore:
    """One client's private record (``state_dir=None``)."""

    where = "this client's memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: str | None = None

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return self._lock

    def read(self) -> str | None:
        return self._text

    def write(self, text: str) -> None:
        self._text = text


class _FileStore:
    """``<state_dir>/ip-state.json`` under ``flock`` of ``<state_dir>/ip-state.lock``."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = Path(state_dir)
        self.path = self.folder / STATE_FILE
        self.where = str(self.path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / LOCK_FILE, "a")
        except OSError as exc:
            raise IpStateError(f"Binance IP state {self.path}: cannot open its lock ({exc})") from None
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the handle closes
            yield

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IpStateError(f"Binance IP state {self.path}: unreadable ({exc})") from None

    def write(self, text: str) -> None:
        try:
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=f".{STATE_FILE}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temp, self.path)
        except OSError as exc:
            raise IpStateError(f"Binance IP state {self.path}: cannot write ({exc})") from None


class IpState:
    """A client's handle on the shared record of one host; see the module docstring.

    ``limit`` and ``headroom`` set the weight ceiling of a minute (``limit * headroom``);
    ``ban_default_s`` is the ban assumed after a 418 without ``Retry-After``; ``clock`` is the
    local clock (epoch s); ``sleep`` waits for the next minute; ``logger`` reports the waits.
    """

    def __init__(self, state_dir: Path | None, base_url: str, *, limit: int = 6000,
                 headroom: float = 0.9, ban_default_s: float = 300.0, clock: Clock,
                 sleep: Sleep, logger: logging.Logger) -> None:
        self.store: _Store = _MemoryStore() if state_dir is None else _FileStore(state_dir)
        self.host = urlsplit(base_url).netloc or base_url
        self.ceiling = limit * headroom
        self.ban_default_s = ban_default_s
        self.clock = clock
        self.sleep = sleep
        self.logger = logger
        self._not_before_s = 0.0

    @property
    def where(self) -> str:
        """Where the record lives (the state file's path), for messages."""
        return self.store.where

    def reserve(self, weight: int, where: str) -> None:
        """Reserve ``weight`` for one request, waiting for the next server minute while the
        ceiling would be passed; ``IPBannedError`` at once (no request) while the IP is banned."""
        while True:
            with self._host(where) as host:
                now = self._server_now(host)
                if host.banned_until is not None and now < host.banned_until:
                    until = _iso(host.banned_until)
                    raise IPBannedError(
                        f"{where}: this IP is banned by Binance ({self.host}) until {until}; "
                        f"no request sent (ban recorded in {self.where})", host=self.host, until=until)
                window = max(int(now // 60), host.window)
                used = host.used if window == host.window else 0  # else a minute not seen yet
                pending = sum(host.reserved.values())
                if weight == 0 or used + pending + weight <= self.ceiling or used + pending == 0:
                    if weight:
                        host.reserved[os.getpid()] = host.reserved.get(os.getpid(), 0) + weight
                    return
                wait = (window + 1) * 60.0 - now
            self.logger.info("%s: request weight %d used and %d in flight of %.0f allowed this "
                             "minute; waiting %.1f s for the next window", where, used,
                             pending, self.ceiling, wait)
            self.sleep(wait)
            self._not_before_s = max(self._not_before_s, (window + 1) * 60.0)

    def settle(self, weight: int, response: requests.Response | None, where: str) -> str | None:
        """Release the reservation of a request and record what its answer says: the used weight
        and the server clock, and a 418's ban, whose end (UTC ISO 8601) is returned (else None).
        ``response`` is None when no answer came."""
        with self._host(where) as host:
            host.release(os.getpid(), weight)
            if response is None:
                if int(self._server_now(host) // 60) <= host.window:
                    host.used += weight  # the server may have counted it
                return None
            server_s = _date_s(response)
            if server_s is not None:
                host.clock_offset_s = server_s - self.clock()
            else:
                server_s = self._server_now(host)
            used = response.headers.get(WEIGHT_HEADER, "").strip()
            window = int(server_s // 60)
            if used.isdigit() and window >= host.window:
                host.used = max(host.used, int(used)) if window == host.window else int(used)
                host.window = window
            if response.status_code != 418:
                return None
            wait = retry_after_s(response)
            until = server_s + (self.ban_default_s if wait is None else wait)
            host.banned_until = max(until, host.banned_until or until)
            return _iso(host.banned_until)

    @contextlib.contextmanager
    def _host(self, where: str) -> Iterator[_Host]:
        """This host's record, under the store's lock; written back when the block ends normally.
        A store failure is an ``IpStateError`` starting with ``where``."""
        try:
            with self.store.lock():
                before = self.store.read()
                hosts = self._parse(before)
                host = hosts.setdefault(self.host, _Host())
                host.reserved = {pid: w for pid, w in host.reserved.items() if alive(pid)}
                yield host
                text = json.dumps({"version": FORMAT_VERSION,
                                   "hosts": {name: h.to_json() for name, h in sorted(hosts.items())}},
                                  indent=1)
                if text != before:
                    self.store.write(text)
        except IpStateError as exc:
            raise IpStateError(f"{where}: {exc}") from None

    def _parse(self, text: str | None) -> dict[str, _Host]:
        """The hosts of the state text (none for a missing file); ``IpStateError`` if corrupt."""
        if text is None:
            return {}
        try:
            raw = json.loads(text)
            if raw["version"] != FORMAT_VERSION:
                raise ValueError(f"format version {raw['version']!r}, expected {FORMAT_VERSION}")
            return {str(name): _Host.from_json(entry) for name, entry in raw["hosts"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IpStateError(
                f"Binance IP state {self.where} is corrupt ({type(exc).__name__}: {exc}); "
                "fix or delete it (deleting forgets any recorded ban)") from None

    def _server_now(self, host: _Host) -> float:
        return max(self.clock() + host.clock_offset_s, self._not_before_s)


def _date_s(response: requests.Response) -> float | None:
    """The server clock (epoch s) from the ``Date`` header; None when absent or unreadable."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()
