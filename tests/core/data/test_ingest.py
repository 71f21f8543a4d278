"""One symbol-month brought up to date: first fetch, top-up, skip when complete, force, errors."""

import pandas as pd
import pytest

from threadx_core.data.ingest import IngestError, ingest_month
from threadx_core.data.sources import SyntheticSource

T = pd.Timestamp


class Recording(SyntheticSource):
    """The real synthetic source, remembering each window it was asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def fetch(self, symbol, start, end, now):
        self.calls.append((start, end))
        return super().fetch(symbol, start, end, now)


def test_finished_month_is_fetched_whole_and_marked_complete():
    source = Recording()
    out = ingest_month(source, "BTCUSDT", "2024-02", existing=None, now=T("2024-05-01", tz="UTC"))
    assert out.action == "fetched"
    assert len(out.frame) == 29 * 1440
    assert out.frame.attrs["fetched_through"] == "2024-03-01T00:00:00+00:00"
    assert out.gaps.missing == 0 and out.gaps.ratio == 1.0
    assert source.calls == [(T("2024-02-01", tz="UTC"), T("2024-03-01", tz="UTC"))]


def test_still_open_candle_is_never_stored():
    out = ingest_month(SyntheticSource(), "BTCUSDT", "2024-01", existing=None,
                       now=T("2024-01-10 12:30:30", tz="UTC"))
    assert out.frame["open_time"].iloc[-1] == T("2024-01-10 12:29", tz="UTC")
    assert out.frame.attrs["fetched_through"] == "2024-01-10T12:30:00+00:00"


def test_top_up_fetches_only_what_follows_the_last_candle_and_equals_a_fresh_fetch():
    first = ingest_month(SyntheticSource(), "ETHUSDT", "2024-01", existing=None,
                         now=T("2024-01-15 08:00", tz="UTC"))
    source = Recording()
    later = T("2024-01-20 17:45:10", tz="UTC")
    topped = ingest_month(source, "ETHUSDT", "2024-01", existing=first.frame, now=later)
    assert topped.action == "topped_up"
    assert source.calls == [(T("2024-01-15 08:00", tz="UTC"), T("2024-02-01", tz="UTC"))]
    fetched_minutes = (later.floor("min") - T("2024-01-15 08:00", tz="UTC")) // pd.Timedelta("1min")
    assert topped.fetched_rows == fetched_minutes
    fresh = ingest_month(SyntheticSource(), "ETHUSDT", "2024-01", existing=None, now=later)
    pd.testing.assert_frame_equal(topped.frame, fresh.frame)


def test_complete_month_is_not_fetched_again_unless_forced():
    now = T("2024-03-05", tz="UTC")
    stored = ingest_month(SyntheticSource(), "BTCUSDT", "2024-01", existing=None, now=now).frame
    source = Recording()
    skipped = ingest_month(source, "BTCUSDT", "2024-01", existing=stored, now=now)
    assert skipped.action == "skipped" and source.calls == []
    forced = ingest_month(source, "BTCUSDT", "2024-01", existing=stored, now=now, force=True)
    assert forced.action == "fetched"
    assert source.calls == [(T("2024-01-01", tz="UTC"), T("2024-02-01", tz="UTC"))]


def test_month_stored_before_it_ended_is_completed_on_the_next_run():
    partial = ingest_month(SyntheticSource(), "BTCUSDT", "2024-01", existing=None,
                           now=T("2024-01-31 23:00", tz="UTC")).frame
    done = ingest_month(SyntheticSource(), "BTCUSDT", "2024-01", existing=partial,
                        now=T("2024-02-01 00:15", tz="UTC"))
    assert done.action == "topped_up" and len(done.frame) == 31 * 1440
    assert done.frame.attrs["fetched_through"] == "2024-02-01T00:00:00+00:00"


def test_flat_policy_fills_short_gaps_and_reports_the_rest():
    source = SyntheticSource(gap_probability=0.9)
    now = T("2024-04-01", tz="UTC")
    raw = ingest_month(source, "BTCUSDT", "2024-03", existing=None, now=now)
    filled = ingest_month(source, "BTCUSDT", "2024-03", existing=None, now=now, fill="flat",
                          max_fill_minutes=30)
    assert raw.gaps.missing > 0
    assert filled.frame["filled"].sum() > 0
    assert filled.frame.loc[filled.frame["filled"], "volume"].eq(0).all()
    assert filled.gaps.missing == raw.gaps.missing - filled.frame["filled"].sum()
    assert all((b - a) >= pd.Timedelta(minutes=30) for a, b in filled.gaps.ranges)


class Broken(SyntheticSource):
    name = "broken"

    def __init__(self, shift):
        super().__init__()
        self.shift = shift

    def fetch(self, symbol, start, end, now):
        if self.shift is None:
            raise ConnectionError("exchange unreachable")
        out = super().fetch(symbol, start, end, now)
        out["open_time"] = (out["open_time"] + self.shift).astype(out["open_time"].dtype)
        return out


@pytest.mark.parametrize(("shift", "message"), [
    (None, "exchange unreachable"),
    (pd.Timedelta(days=40), "outside the requested window"),
])
def test_source_failures_name_symbol_and_month(shift, message):
    with pytest.raises(IngestError, match=f"BTCUSDT 2024-01.*{message}"):
        ingest_month(Broken(shift), "BTCUSDT", "2024-01", existing=None, now=T("2024-06-01", tz="UTC"))


def test_future_month_is_an_error():
    with pytest.raises(IngestError, match="BTCUSDT 2031-01"):
        ingest_month(SyntheticSource(), "BTCUSDT", "2031-01", existing=None, now=T("2030-12-01", tz="UTC"))


def test_ingest_bench_reports_its_ratio_and_break_even_from_its_own_stages() -> None:
    from threadx_bench import ingest as bench

    figures = bench.run("BTCUSDT", 2024, latency_ms=2.0, n_months=1)
    assert (figures["candles"], figures["pages"], figures["latency_ms"]) == (44_640, 45, 2.0)
    assert figures["fetch_s"] >= 45 * 0.002  # every page waited for its round trip
    local = figures["parse_s"] + figures["validate_s"] + figures["write_s"]
    assert figures["parse_validate_write_over_fetch"] == pytest.approx(local / figures["fetch_s"], abs=0.01)
    break_even_ms = 2.0 + 1000 * (local / bench.TARGET - figures["fetch_s"]) / 45
    assert figures["break_even_latency_ms"] == pytest.approx(break_even_ms, abs=0.5)
