"""Binance reachability and the clock offset, against the loopback server (its ``/api/v3/time``)."""

from __future__ import annotations

import socket

import pytest

from threadx_core import data
from threadx_core.doctor.binance import CLOCK_ERROR_S, binance_checks
from threadx_core.doctor.report import Status
from threadx_core.testing.candles import FAKE_NOW
from threadx_core.testing.fake_binance import FakeBinance, Fault
from threadx_core.times import to_ms

LOCAL_S = to_ms(FAKE_NOW) / 1000.0


@pytest.fixture
def fake():
    with FakeBinance(lambda s, a, b: data.synthetic(s, a, b), ["BTCUSDT"], now=FAKE_NOW) as server:
        yield server


def doctor(url, tmp_path):
    # this machine's clock stands still at the server's `now`: the offset is the server's alone
    return binance_checks(url, timeout_s=5.0, state_dir=tmp_path / "ip", clock=lambda: LOCAL_S)


def test_a_reachable_server_with_the_same_clock_is_ok(fake, tmp_path):
    reach, clock = doctor(fake.url, tmp_path)
    assert (reach.name, reach.status) == ("binance", Status.OK) and f"{fake.url}/api/v3/time" in reach.detail
    assert clock.status is Status.OK and "server − local = +0.000 s" in clock.detail
    assert [r.path for r in fake.requests] == ["/api/v3/time"]


@pytest.mark.parametrize(("offset", "status", "words"), [
    (5.0, Status.WARNING, "5.0 s behind Binance's (server − local = +5.000 s"),
    (-5.0, Status.WARNING, "5.0 s ahead of Binance's (server − local = -5.000 s"),
    (CLOCK_ERROR_S + 1, Status.ERROR, "31.0 s behind"),
])
def test_a_clock_off_from_the_server_is_named_with_its_offset(fake, tmp_path, offset, status, words):
    fake.clock_offset_s = offset
    _, clock = doctor(fake.url, tmp_path)
    assert clock.status is status and words in clock.detail and "synchronise it (NTP)" in clock.detail


def test_an_unreachable_port_is_an_error(tmp_path):
    with socket.socket() as sock:  # a port just freed: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    (check,) = doctor(url, tmp_path)
    assert check.status is Status.ERROR and check.detail.startswith(f"{url}/api/v3/time unreachable")


def test_a_server_error_and_a_ban_are_errors_and_a_recorded_ban_sends_nothing(fake, tmp_path):
    fake.inject(Fault.server_error(503))
    (failed,) = doctor(fake.url, tmp_path)
    assert failed.status is Status.ERROR and "answered HTTP 503" in failed.detail
    fake.inject(Fault.banned(retry_after_s=600))
    (banned,) = doctor(fake.url, tmp_path)
    assert banned.status is Status.ERROR and "HTTP 418, this IP is banned until" in banned.detail
    sent = len(fake.requests)
    (again,) = doctor(fake.url, tmp_path)
    assert again.status is Status.ERROR and "no request sent" in again.detail
    assert len(fake.requests) == sent
