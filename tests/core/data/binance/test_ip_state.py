"""The IP's shared record (weight budget and bans) across real OS processes, against one fake
Binance server whose clock they share (``processes.SharedClock``: a sleep moves it on, so no test
waits a real minute)."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.data.binance import processes
from tests.core.data.binance.kit import fetch, ts
from threadx_core.data.binance import BinanceClient, IPBannedError
from threadx_core.data.binance.ip_state import LOCK_FILE, STATE_FILE, IpState, IpStateError
from threadx_core.data.binance.rest import KLINES_WEIGHT
from threadx_core.data.sources import from_settings
from threadx_core.settings import from_mapping
from threadx_core.testing.candles import Sleeps, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Fault, RecordedRequest
from threadx_core.times import to_ms

#: The shared clock starts at a minute's first second, after every candle the tests fetch.
START_S = to_ms("2024-04-01") / 1000.0
LIMIT = 20  # the fake server's weight per minute: 10 klines calls
#: Five pages of 1000 candles (the last one short); ONE_PAGE: a single short page.
RANGE = ("2024-03-01 00:00", "2024-03-04 11:20")
ONE_PAGE = ("2024-03-01 00:00", "2024-03-01 16:40")
JOIN_S = 120.0  # a safety net against a hung child, never what a test measures


@pytest.fixture
def clock() -> processes.SharedClock:
    return processes.SharedClock(processes.SPAWN.Value("d", START_S))


@pytest.fixture
def fake(clock: processes.SharedClock) -> Iterator[FakeBinance]:
    with FakeBinance(toy_candles, ["BTCUSDT"], weight_limit=LIMIT, clock=clock.now) as server:
        yield server


def run(target: object, *argsets: tuple) -> list[tuple]:
    """Start one spawned process per argument tuple (each ends with the results queue), wait for
    all, and return what they reported."""
    results = processes.SPAWN.Queue()
    children = [processes.SPAWN.Process(target=target, args=(*args, results)) for args in argsets]
    for child in children:
        child.start()
    reports = [results.get(timeout=JOIN_S) for _ in children]
    for child in children:
        child.join(JOIN_S)
        assert child.exitcode == 0
    return reports


def weight_by_minute(calls: list[RecordedRequest]) -> dict[int, int]:
    """The server's own count of the weight used in each minute of its clock (the highest
    ``X-MBX-USED-WEIGHT-1M`` it sent in that minute)."""
    used: dict[int, int] = defaultdict(int)
    for call in calls:
        used[int(call.at_s // 60)] = max(used[int(call.at_s // 60)], call.used_weight or 0)
    return dict(used)


def concurrent_fetches(fake: FakeBinance, clock: processes.SharedClock, tmp_path: Path,
                       shared: bool, span: tuple[str, str]) -> list[tuple]:
    """Another program has used weight 12 of this minute; an earlier run (this process) fetched one
    page and recorded the used weight (14) in ``tmp_path/"earlier"``; then four processes fetch
    ``span`` at once, in that folder (``shared``) or each in a fresh one of its own."""
    fake.set_used_weight(12)
    earlier = tmp_path / "earlier"
    assert len(fetch(processes.client(fake.url, str(earlier), clock, LIMIT), *ONE_PAGE)) > 0
    assert [c.used_weight for c in fake.klines_requests()] == [14]
    dirs = [earlier if shared else tmp_path / f"own-{i}" for i in range(4)]
    return run(processes.fetch, *[(fake.url, str(d), clock.value, LIMIT, *span) for d in dirs])


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "own"])
def test_processes_spend_one_budget_only_when_they_share_the_state(
        fake: FakeBinance, clock: processes.SharedClock, tmp_path: Path, shared: bool) -> None:
    """Four processes fetch one page each where the earlier run left 4 of the budget's 18: sharing
    the state, some go in this minute and the rest wait for the next, and the server never counts
    more than limit × headroom. With a state folder each, every one sends blind: 14 + 4 × 2 = 22 > 20, and
    the server answers 429 (whatever the order, as the clock moves only when a client sleeps)."""
    reports = concurrent_fetches(fake, clock, tmp_path, shared, ONE_PAGE)

    calls = fake.klines_requests()
    used = weight_by_minute(calls)
    if shared:
        expected = len(toy_candles("BTCUSDT", *map(ts, ONE_PAGE)))
        assert [outcome for _, *outcome in reports] == [["ok", expected]] * 4
        assert {c.status for c in calls} == {200} and len(calls) == 5
        # which two go first is the scheduler's choice; what the budget guarantees is that this
        # minute never passes limit × headroom (18) and that the rest waits for the next minute
        assert sum(used.values()) == 22 and len(used) == 2 and max(used.values()) <= LIMIT * 0.9
    else:
        assert 429 in {c.status for c in calls}
        assert max(used.values()) > LIMIT


def test_many_pages_from_processes_sharing_the_state_never_pass_the_limit(
        fake: FakeBinance, clock: processes.SharedClock, tmp_path: Path) -> None:
    """Four processes fetch five pages each, waiting for the next minute as the budget (18 of 20:
    9 calls a minute) runs out: in no minute does the server count more than its limit, nor
    answer 429."""
    reports = concurrent_fetches(fake, clock, tmp_path, True, RANGE)

    expected = len(toy_candles("BTCUSDT", *map(ts, RANGE)))
    assert [outcome for _, *outcome in reports] == [["ok", expected]] * 4
    calls = fake.klines_requests()
    assert len(calls) == 1 + 4 * 5 and {c.status for c in calls} == {200}
    used = weight_by_minute(calls)
    assert max(used.values()) <= LIMIT * 0.9 and len(used) >= 3  # 42 weight over ≥ 3 minutes


def test_a_ban_stops_every_process_until_it_ends(fake: FakeBinance, clock: processes.SharedClock,
                                                 tmp_path: Path) -> None:
    """A 418 to one process: the ban is recorded (until the server's Date + Retry-After), another
    process's client raises without sending a request, and sends again once the ban is over."""
    fake.inject(Fault.banned(retry_after_s=120))
    state_dir = tmp_path / "state"
    [(_, error, message)] = run(processes.fetch, (fake.url, str(state_dir), clock.value, LIMIT,
                                                  *RANGE))
    assert error == "IPBannedError" and "HTTP 418" in message
    assert "until 2024-04-01T00:02:00+00:00" in message
    assert len(fake.requests) == 1

    here = processes.client(fake.url, str(state_dir), clock, LIMIT)  # this test's own process
    with pytest.raises(IPBannedError) as banned:
        fetch(here, *RANGE)
    assert str(banned.value) == (
        f"BTCUSDT at 2024-03-01T00:00:00+00:00: this IP is banned by Binance "
        f"({fake.url.removeprefix('http://')}) until 2024-04-01T00:02:00+00:00; no request sent "
        f"(ban recorded in {state_dir / STATE_FILE})")
    assert len(fake.requests) == 1  # nothing reached the server

    clock.value.value = START_S + 120  # the ban is over
    assert len(fetch(here, *RANGE)) > 0
    assert [r.status for r in fake.klines_requests()] == [418] + [200] * 5


def test_concurrent_reservations_are_never_lost(tmp_path: Path) -> None:
    """4 processes × 100 reservations of weight 2 in one state file: exactly 800 reserved, each
    process's 200 under its id; once they have ended, their reservations are dropped."""
    leave = processes.SPAWN.Event()
    url = "http://127.0.0.1:9"
    results = processes.SPAWN.Queue()
    children = [processes.SPAWN.Process(target=processes.reserve,
                                        args=(url, str(tmp_path), 100, 2, results, leave))
                for _ in range(4)]
    for child in children:
        child.start()
    try:
        reports = [results.get(timeout=JOIN_S) for _ in children]
        reserved = json.loads((tmp_path / STATE_FILE).read_text())["hosts"]["127.0.0.1:9"]["reserved"]
    finally:
        leave.set()
        for child in children:
            child.join(JOIN_S)
    assert sorted(reserved) == sorted(str(pid) for pid, *_ in reports)
    assert sum(reserved.values()) == 4 * 100 * 2 and set(reserved.values()) == {200}

    state = IpState(tmp_path, url, clock=time.time, sleep=Sleeps(), logger=logging.getLogger(__name__))
    state.reserve(KLINES_WEIGHT, "after")
    reserved = json.loads((tmp_path / STATE_FILE).read_text())["hosts"]["127.0.0.1:9"]["reserved"]
    assert reserved == {str(os.getpid()): KLINES_WEIGHT}


@pytest.mark.parametrize("text", ["{not json", '{"version": 1, "hosts": {"x": {"used": "many"}}}',
                                  '{"version": 2, "hosts": {}}', "[]"])
def test_a_corrupt_state_file_is_an_error_and_is_kept(fake_binance: FakeBinance, tmp_path: Path,
                                                      text: str) -> None:
    """A state file that does not parse stops the client before any request, naming the file; the
    file is left as it was (resetting it could forget a ban)."""
    (tmp_path / STATE_FILE).write_text(text)
    c = BinanceClient(fake_binance.url, state_dir=tmp_path, sleep=Sleeps())
    path = re.escape(str(tmp_path / STATE_FILE))
    with pytest.raises(IpStateError, match=rf"BTCUSDT at .*: Binance IP state {path} is corrupt "
                                           r".*fix or delete it"):
        fetch(c, *RANGE)
    assert fake_binance.requests == []
    assert (tmp_path / STATE_FILE).read_text() == text


def test_a_ban_without_retry_after_lasts_ban_default_s(fake_binance: FakeBinance,
                                                       tmp_path: Path) -> None:
    fake_binance.inject(Fault.banned(retry_after_s=None))
    c = BinanceClient(fake_binance.url, state_dir=tmp_path, ban_default_s=600, sleep=Sleeps(),
                      clock=fake_binance.clock_s)
    with pytest.raises(IPBannedError, match=r"until 2024-03-15T12:44:30\+00:00 \(no Retry-After\)"):
        fetch(c, *RANGE)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["hosts"][fake_binance.url.removeprefix("http://")]["banned_until"] == (
        "2024-03-15T12:44:30+00:00")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([LOCK_FILE, STATE_FILE])  # no temp


def test_the_settings_clients_share_one_state_in_the_warehouse(tmp_path: Path) -> None:
    """Built from the settings, the REST and the archive clients record the IP's state in
    ``<warehouse>/.binance`` unless ``[binance] state_dir`` (relative to the file) says where."""
    default = from_settings(from_mapping({"source": {"kind": "binance_vision"},
                                          "warehouse": {"root": "wh"}}, base_dir=tmp_path))
    expected = str(tmp_path / "wh" / ".binance" / STATE_FILE)
    assert default.rest.client.ip_state.where == default.vision.ip_state.where == expected

    chosen = from_settings(from_mapping({"source": {"kind": "binance"},
                                         "binance": {"state_dir": "limits", "ban_default_s": 60}},
                                        base_dir=tmp_path))
    assert chosen.client.ip_state.where == str(tmp_path / "limits" / STATE_FILE)
    assert chosen.client.ip_state.ban_default_s == 60.0
