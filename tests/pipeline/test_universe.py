"""The ``universe`` asset through a real Dagster instance, against loopback CoinGecko and Binance:
CoinGecko's 429, Binance's weight headers, the raw answers kept, members registered as
partitions, and a symbol that stops trading leaving the universe and the daily top-up while its
history stays."""

import hashlib
import json
from datetime import UTC
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.core.universe.kit import coins, markets
from tests.pipeline.kit import materialization, threadx
from threadx_core import storage
from threadx_core.testing.candles import toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Market
from threadx_core.testing.fake_coingecko import FakeCoinGecko
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import SYMBOLS, key

T1 = pd.Timestamp("2024-03-04 00:05", tz="UTC")  # a Monday: the weekly schedule's time
T2 = pd.Timestamp("2024-03-11 00:05", tz="UTC")


def write_settings(folder: Path, gecko: FakeCoinGecko, binance: FakeBinance) -> Path:
    """A project in universe mode on the two loopback servers (warehouse ``folder/wh``)."""
    path = folder / "threadx.toml"
    path.write_text('[warehouse]\nroot = "wh"\n\n[universe]\nmode = "universe"\nsize = 10\n'
                    'candidates = 40\nquote_asset = "USDT"\nstart_month = "2024-01"\n'
                    f'coingecko_url = "{gecko.url}"\n\n'
                    f'[source]\nkind = "binance"\n\n[binance]\nrest_url = "{binance.url}"\n'
                    f'vision_url = "{binance.url}"\nmax_retries = 2\n\n'
                    '[timeframes]\nderive = ["1h"]\nsweep = ["1h"]\n')
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with (FakeCoinGecko(coins()) as gecko,
          FakeBinance(toy_candles, markets(), now=T1, markets=markets()) as binance,
          dg.instance_for_test() as instance):
        yield write_settings(tmp_path_factory.mktemp("universe"), gecko, binance), gecko, binance, instance


def materialise(path: Path, instance, now: pd.Timestamp):
    job = build_definitions(path, frozen_now=now.isoformat()).resolve_job_def("universe_job")
    return job.execute_in_process(instance=instance, raise_on_error=False)


def top_up(path: Path, instance, now: pd.Timestamp):
    defs = build_definitions(path, frozen_now=now.isoformat())
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                        scheduled_execution_time=now.to_pydatetime().astimezone(UTC))
    return defs.resolve_schedule_def("daily_top_up").evaluate_tick(context)


def test_universe_registers_members_keeps_raw_answers_and_drives_the_top_up(world):
    path, gecko, binance, instance = world
    skipped = top_up(path, instance, T1)
    assert not skipped.run_requests and "no universe is stored yet" in skipped.skip_message
    sensor = build_definitions(path).resolve_sensor_def("register_symbols")
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "universe asset registers" in tick.skip_message

    gecko.rate_limit(1, retry_after_s=0)  # CoinGecko says "slow down" once, then answers
    first = materialise(path, instance, T1)
    assert first.success
    meta = materialization(first, "universe")
    members = meta["added"]  # the first universe: every member is new
    assert meta["size"] == len(members) > 10 and "SOLUSDT" in members  # 10 + category fills
    assert meta["removed"] == [] and sorted(meta["registered"]) == members
    assert sorted(instance.get_dynamic_partitions(SYMBOLS.name)) == members
    assert meta["members_per_category"]["meme"] == ["DOGE", "PEPE", "SHIB"]
    # BNB alone of the exchange tokens, LINK alone of infrastructure: warned, never filled up
    assert [w.split(" (")[0] for w in meta["warnings"]] == ["category exchange", "category infrastructure"]
    assert meta["mix"].startswith("![universe mix](data:image/png;base64,")
    assert [status for _, _, status in gecko.requests] == [429, 200]
    assert [(r.path, r.used_weight) for r in binance.requests] == [("/api/v3/ticker/24hr", 80),
                                                                  ("/api/v3/exchangeInfo", 100)]
    folder = Path(meta["path"])
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, digest in manifest["raw_sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert sorted(manifest["raw_sha256"]) == ["raw/binance-exchangeInfo.json", "raw/binance-ticker-24hr.json",
                                              "raw/coingecko-markets-1.json"]
    assert manifest["category_table_version"] == meta["category_table_version"] >= 1

    # SOL's March so far is stored; then Binance stops trading SOLUSDT
    raw = build_definitions(path, frozen_now=T1.isoformat()).resolve_assets_def("raw_1m")
    assert dg.materialize([raw], partition_key=key("SOLUSDT", "2024-03"), instance=instance).success
    sol_march = storage.partition_path(path.parent / "wh", "raw_1m", "SOLUSDT", "2024-03")
    stored = storage.read_partition(sol_march)
    binance.markets["SOLUSDT"] = Market("SOL", "USDT", "BREAK", 0.0)

    second = materialise(path, instance, T2)
    assert second.success
    meta2 = materialization(second, "universe")
    assert meta2["removed"] == ["SOLUSDT"] and meta2["previous"] == str(folder)
    assert "SOLUSDT" in instance.get_dynamic_partitions(SYMBOLS.name)  # the partition stays
    pd.testing.assert_frame_equal(storage.read_partition(sol_march), stored)  # and so does its history
    now_members = sorted(set(members) - {"SOLUSDT"} | set(meta2["added"]))
    assert meta2["size"] == len(now_members)

    requests = top_up(path, instance, T2.replace(minute=15)).run_requests
    assert sorted(str(r.partition_key) for r in requests) == [f"2024-03|{s}" for s in now_members]


def test_threadx_universe_materialises_it_or_says_why_not_in_one_line(world, tmp_path):
    _, gecko, binance, _ = world
    path = write_settings(tmp_path, gecko, binance)
    done = threadx("universe", home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("universe: ") and "(USDT), stored in " in done.stdout
    assert "  warning: category exchange (Exchange tokens): 1 of its minimum 2" in done.stdout

    gecko.rate_limit(3, retry_after_s=0)  # more 429s than [binance] max_retries = 2 allows
    failed = threadx("universe", home=tmp_path / "home", cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith(
        "universe: CoinGecko /api/v3/coins/markets page 1 (per_page 40): gave up after 3 attempts")
    assert len(list((path.parent / "wh" / "universe").iterdir())) == 1  # the failed run stored nothing
