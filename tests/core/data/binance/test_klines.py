"""The fast klines parser (canonical bodies straight from bytes, batched) against the JSON path.

The fast path must give exactly what ``json.loads`` + ``parse_klines`` give, or step aside so
that the JSON path raises its precise error (the client's batched conversion of the pages of one
call is tested with the client, in ``test_rest.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.data.binance.kit import T0, body, candles, row
from threadx_core.data.binance.http import MalformedResponseError
from threadx_core.data.binance.klines import (
    FLOAT_FIELDS,
    KlinesPage,
    convert_klines_bodies,
    klines_frame,
    parse_klines,
    parse_klines_bodies,
    parse_klines_body,
    scan_klines_body,
)
from threadx_core.data.binance.rest import PAGE_LIMIT
from threadx_core.times import MINUTE_MS

WHERE = "BTCUSDT at 2024-03-01T00:00:00+00:00"


def json_path(body: bytes, where: str = WHERE) -> KlinesPage:
    """The reference: what the client did before the fast path (json.loads + parse_klines)."""
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise MalformedResponseError(f"{where}: response is not JSON ({exc})") from None
    return parse_klines(rows, where)


def outcome(parse: Callable[[], KlinesPage]) -> tuple[str, Any]:
    try:
        page = parse()
    except Exception as exc:  # any failure must be the same on both paths
        return "error", f"{type(exc).__name__}: {exc}"
    return "page", page


def assert_pages_equal(got: KlinesPage, expected: KlinesPage) -> None:
    np.testing.assert_array_equal(got.open_ms, expected.open_ms, strict=True)
    np.testing.assert_array_equal(got.close_ms, expected.close_ms, strict=True)
    np.testing.assert_array_equal(got.trades, expected.trades, strict=True)
    for name in FLOAT_FIELDS:
        np.testing.assert_array_equal(got.floats[name], expected.floats[name], strict=True)


def assert_same_outcome(body: bytes) -> None:
    fast, reference = outcome(lambda: parse_klines_body(body, WHERE)), outcome(lambda: json_path(body))
    assert fast[0] == reference[0], (body, fast, reference)
    if fast[0] == "error":
        assert fast[1] == reference[1]
    else:
        assert_pages_equal(fast[1], reference[1])


#: Epoch ms that error messages can name (up to year 2262, as pandas timestamps).
TIMES = st.integers(0, 9 * 10**15)
decimal_text = st.one_of(
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False).map(repr),   # shortest round trip
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False).map(lambda x: f"{x:.8f}"),  # Binance
    st.floats(min_value=1e-300, max_value=1e-4).map(repr),                # exponents: 1e-05
    st.floats(min_value=1e15, max_value=1e300).map(repr),                 # 1e+16
    st.integers(0, 10**20).map(str),
)
valid_row = st.builds(lambda t, prices, trades, close: row(t, prices, trades, close),
                      TIMES, st.lists(decimal_text, min_size=8, max_size=8),
                      st.integers(0, 2**62), TIMES)


# -- canonical bodies: the fast path, equal to the JSON path and to float(str) -----------------

@settings(max_examples=300, deadline=None)
@given(rows=st.lists(valid_row, max_size=5))
def test_fast_path_equals_json_path_on_canonical_bodies(rows: list[str]) -> None:
    data = body(rows)
    scan = scan_klines_body(data)
    assert scan is not None and scan.rows == len(rows)
    converted = convert_klines_bodies([scan])
    assert converted is not None  # the fast path is taken, not the fallback
    reference = json_path(data)
    assert_pages_equal(converted[0], reference)
    for i, text in enumerate(json.loads(data)):
        assert converted[0].floats["open"][i] == float(text[1])  # exactly, as float(str)
    if rows:
        assert (scan.last_open_ms, scan.last_close_ms) == (reference.open_ms[-1],
                                                           reference.close_ms[-1])


def test_fake_server_and_binance_formats_parse_alike() -> None:
    """Shortest round-trip (the fake server) and 8 fixed decimals (Binance) give one float."""
    for x in (0.1, 62000.1, 1e-05, 16.419799149036407, 57909.898901980785, 3.0e-08):
        data = body([row(T0, [repr(x), f"{x:.8f}", repr(x), repr(x), "1", "2", "3", "4"])])
        page = parse_klines_body(data, WHERE)
        assert page.floats["open"][0] == x and page.floats["high"][0] == float(f"{x:.8f}")


# -- anything else: the JSON path decides, with its precise errors ------------------------------

ALPHABET = b'0123456789+-.eE,[]"  \n\\aZ{}:\x00\xff'


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(valid_row, min_size=1, max_size=3), data=st.data())
def test_mutated_bodies_parse_or_fail_as_the_json_path(rows: list[str], data: st.DataObject) -> None:
    text = bytearray(body(rows))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        char = data.draw(st.sampled_from(list(ALPHABET)))
        if kind == "insert":
            text.insert(at, char)
        elif at < len(text):
            if kind == "replace":
                text[at] = char
            else:
                del text[at]
    assert_same_outcome(bytes(text))


@pytest.mark.parametrize("text", [
    b'[[05,"1","1","1","1","1",59999,"1",7,"1","1","0"]]',         # leading zero: not JSON
    b'[[5,"1","1","1","1","1",059999,"1",7,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",00,"1","1","0"]]',
    b'[[-05,"1","1","1","1","1",59999,"1",7,"1","1","0"]]',
    b'[[5,"1"2,"1","1","1","1",59999,"1",7,"1","1","0"]]',          # text after a closing quote
    b'[[5,2"1","1","1","1","1",59999,"1",7,"1","1","0"]]',          # text before an opening one
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1",5"0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"5]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"]5]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"],5[6,"1","1","1","1","1",59999,"1",7,'
    b'"1","1","0"]]',
    b'[[5,"","1","1","1","1",59999,"1",7,"1","1","0"]]',            # empty decimal
    b'[[5,"1","1","1","1","1",59999,"1",,"1","1","0"]]',            # empty integer
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1",""]]',            # empty ignore: fine
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","abc"]]',         # any ignore: fine
    b'[[-5,"1","1","1","1","1",59999,"1",-0,"1","1","0"]]',         # signs: JSON path
    b'[[5,"1","1","1","1","1",59999,"1",7e0,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7.0,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",99999999999999999999,"1","1","0"]]',
    b'[[5,"1e999","1","1","1","1",59999,"1",7,"1","1","0"]]',       # not finite
    b'[[5,"-1","1","1","1","1",59999,"1",7,"1","1","0"]]',
    b'[[5,"+1","1.","1","1",".5",59999,"1",7,"1","1","0"]]',
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"]',            # cut
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1"]]',               # 11 fields
    b'[[5, "1","1","1","1","1",59999,"1",7,"1","1","0"]]',          # whitespace: JSON path
    b'[[5,1.5,"1","1","1","1",59999,"1",7,"1","1","0"]]',           # bare decimal: JSON path
    b'[[5,"1","1","1","1","1",59999,"1",7,"1","1","0"],[6,"1","1","1","n/a","1",119999,"1",7,'
    b'"1","1","0"]]',
    b"[]",
    b"",
])
def test_edge_bodies_parse_or_fail_as_the_json_path(text: bytes) -> None:
    assert_same_outcome(text)


# -- batches -----------------------------------------------------------------------------------

def test_batch_equals_page_by_page() -> None:
    bodies = [body(candles(PAGE_LIMIT, T0 + k * PAGE_LIMIT * MINUTE_MS)) for k in range(3)]
    bodies.append(body(candles(17, T0 + 3 * PAGE_LIMIT * MINUTE_MS)))
    bodies.append(b"[]")
    wheres = [f"page {i}" for i in range(len(bodies))]
    batch = parse_klines_bodies(bodies, wheres)
    assert [len(p.open_ms) for p in batch] == [1000, 1000, 1000, 17, 0]
    for page, data in zip(batch, bodies, strict=True):
        assert_pages_equal(page, json_path(data))
    frame = klines_frame(batch)
    assert len(frame) == 3017 and frame["open_time"].is_monotonic_increasing


def test_batch_raises_the_first_bad_page_error() -> None:
    good = body(candles(3))
    non_finite = body([row(T0, ["1e999"] * 8)])
    leading_zero = good.replace(b"[[", b"[[0", 1)
    with pytest.raises(MalformedResponseError, match=r"^page 1: .* not JSON"):
        parse_klines_bodies([good, leading_zero, non_finite], ["page 0", "page 1", "page 2"])
    with pytest.raises(MalformedResponseError, match=r"^page 1: candle .*: open is .*inf.*not a finite"):
        parse_klines_bodies([good, non_finite, leading_zero], ["page 0", "page 1", "page 2"])
