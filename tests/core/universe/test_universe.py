"""The universe's core: CoinGecko's paged ranking and its 429s, Binance's market lists and their
weight, the rules (exclusions, score, category minimums), the settings and atomic storage."""

import json
import random

import pytest

from tests.core.universe.kit import coins, markets
from threadx_core import storage
from threadx_core.data.binance.markets import BinanceMarkets
from threadx_core.data.binance.rest import BinanceClient
from threadx_core.settings import SettingsError, from_mapping
from threadx_core.testing.candles import FAKE_NOW, toy_candles
from threadx_core.testing.fake_binance import FakeBinance, Market
from threadx_core.testing.fake_coingecko import FakeCoinGecko, coin
from threadx_core.universe import build, categories, ranking
from threadx_core.universe.coingecko import CoinGeckoClient, CoinGeckoError

MINIMUMS = {"layer1": 3, "layer2": 2, "defi": 2, "meme": 3, "exchange": 2, "ai_gaming": 1, "privacy": 1,
            "infrastructure": 1}


def select(size=10, minimums=MINIMUMS, quote="USDT", market=None):
    market = markets(quote) if market is None else market
    tickers = [{"symbol": s, "quoteVolume": f"{m.quote_volume:.8f}"} for s, m in market.items()]
    info = [{"symbol": s, "status": m.status, "baseAsset": m.base, "quoteAsset": m.quote}
            for s, m in market.items()]
    return ranking.select(coins(), tickers, info, quote=quote, size=size, table=categories.load(),
                          minimums=minimums)


def test_coingecko_pages_until_a_short_page_and_waits_out_its_429s():
    many = [coin(f"coin-{i}", f"C{i}", f"Coin {i}", i) for i in range(1, 261)]
    waits = []
    with FakeCoinGecko(many) as fake:
        fake.rate_limit(2, retry_after_s=7)  # twice "slow down, 7 s", then answers
        client = CoinGeckoClient(fake.url, sleep=waits.append, rng=random.Random(0))
        got = client.markets(300)
        asked = [(params["page"], params["per_page"], status) for _, params, status in fake.requests]
    assert waits == [7, 7]
    assert asked == [("1", "250", 429), ("1", "250", 429), ("1", "250", 200), ("2", "250", 200)]
    assert [c["market_cap_rank"] for c in got.coins] == list(range(1, 261))
    assert len(got.pages) == 2 and json.loads(got.pages[1])[0]["id"] == "coin-251"


def test_coingecko_without_retry_after_backs_off_then_names_the_page_when_it_gives_up():
    waits = []
    with FakeCoinGecko(coins()) as fake:
        fake.rate_limit(3)  # no Retry-After (CoinGecko's free plan): full-jitter backoff
        client = CoinGeckoClient(fake.url, max_retries=2, backoff_base_s=1.0, sleep=waits.append,
                                 rng=random.Random(0))
        with pytest.raises(CoinGeckoError, match=r"page 1 .*gave up after 3 attempts.*HTTP 429"):
            client.markets(20)
    assert len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0


def test_binance_market_lists_spend_their_weight_in_the_shared_ip_record(tmp_path):
    waits = []
    with FakeBinance(toy_candles, [], now=FAKE_NOW, markets=markets()) as fake:
        fake.set_used_weight(5350)  # other clients spent most of this minute's 6000
        client = BinanceClient(fake.url, state_dir=tmp_path, sleep=waits.append)
        lists = BinanceMarkets(client)
        ticker = lists.ticker_24hr()
        info = lists.exchange_info()
        sent = [(r.path, r.used_weight) for r in fake.requests]
    assert sent == [("/api/v3/ticker/24hr", 5430), ("/api/v3/exchangeInfo", 5450)]
    # 5430 answered + 20 > 6000 × 0.9: the client waited for the next minute before exchangeInfo
    assert len(waits) == 1 and 0 < waits[0] <= 60
    assert {t["symbol"] for t in ticker.data} == set(markets())
    assert {s["status"] for s in info.data["symbols"]} == {"TRADING"}
    (host,) = json.loads((tmp_path / "ip-state.json").read_text())["hosts"].values()
    assert host["used"] == 5450  # what Binance's last X-MBX-USED-WEIGHT-1M said, for every process


def test_exclusions_collisions_and_quote_asset():
    selection = select()
    excluded = dict(zip(selection.excluded["symbol"], selection.excluded["reason"], strict=True))
    assert excluded == {"USDCUSDT": "stablecoin", "FUSDUSDT": "stablecoin", "STETHUSDT": "staked",
                        "WBTCUSDT": "wrapped", "BTCUPUSDT": "leveraged"}
    members = selection.members.set_index("symbol")
    assert members.loc["ETHUSDT", "coingecko_id"] == "ethereum"  # the best-ranked "ETH" only
    assert "JUPUSDT" not in excluded  # JUP ends in UP, but J is no base: not leveraged
    assert all(s.endswith("USDT") for s in members.index) and "BTCUSDC" not in members.index


def test_score_is_rank_points_plus_volume_percentile():
    members = select().members.set_index("symbol")
    # 31 coins ranked: mc_score = 100 × (31 + 1 − rank) / 31; with 100 coins it is the legacy 101 − rank
    assert members.loc["BTCUSDT", "mc_score"] == pytest.approx(100.0)
    assert members.loc["DOGEUSDT", "mc_score"] == pytest.approx(100 * (32 - 9) / 31)
    # DOGE trades the most of the 24 candidates: the top volume percentile
    assert members.loc["DOGEUSDT", "vol_score"] == pytest.approx(100.0)
    assert (members["score"] == members["mc_score"] + members["vol_score"]).all()
    assert list(members.index[:3]) == ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]


def test_category_minimums_are_met_from_ranked_candidates_after_the_cut():
    selection = select()
    top = selection.members[selection.members["reason"] == "top_n"]
    added = selection.members[selection.members["reason"] != "top_n"]
    assert len(top) == 10 and list(top["rank"]) == list(range(1, 11))
    assert dict(zip(added["symbol"], added["reason"], strict=True)) == {
        "SHIBUSDT": "category:meme", "UNIUSDT": "category:defi", "AAVEUSDT": "category:defi",
        "ZECUSDT": "category:privacy", "RENDERUSDT": "category:ai_gaming", "ARBUSDT": "category:layer2",
        "OPUSDT": "category:layer2"}
    # exchange tokens: BNB only, CRO has no USDT pair: a warning, never a placeholder
    assert selection.warnings == ["category exchange (Exchange tokens): 1 of its minimum 2 member(s) (BNB): "
                                  "no other ranked candidate of it trades against USDT on Binance"]
    assert "CROUSDT" not in set(selection.members["symbol"])


def test_a_symbol_that_stops_trading_is_no_candidate():
    market = markets()
    market["SOLUSDT"] = Market("SOL", "USDT", "BREAK", 1e9)
    assert "SOLUSDT" not in set(select(market=market).members["symbol"])


def test_universe_settings_are_validated_and_unknown_keys_rejected(tmp_path):
    def load(universe):
        return from_mapping({"universe": universe}, base_dir=tmp_path)

    cfg = load({"mode": "universe", "size": 20, "quote_asset": "USDC", "category_minimums": {"meme": 1}})
    assert (cfg.universe.mode, cfg.universe.size, cfg.universe.quote_asset) == ("universe", 20, "USDC")
    assert load({}).universe.mode == "static"
    with pytest.raises(SettingsError, match=r"\[universe\] unknown key\(s\) \['sise'\]"):
        load({"sise": 20})
    with pytest.raises(SettingsError, match=r"\[universe\] mode: 'dynamic' is not one of"):
        load({"mode": "dynamic"})
    with pytest.raises(SettingsError, match=r"category_minimums: unknown categor\(ies\) \['memes'\]"):
        load({"category_minimums": {"memes": 2}})
    with pytest.raises(SettingsError, match=r"candidates: must be >= size \(300\)"):
        load({"size": 300})


def test_category_table_is_versioned_and_checked(tmp_path):
    table = categories.load()
    assert table.version >= 1 and {"layer1", "meme", "privacy"} <= {c.key for c in table.categories}
    bad = tmp_path / "categories.toml"
    bad.write_text('version = 1\n[categories.x]\nname = "X"\nminimum = 1\ntickers = ["BTC", "BTC"]\n'
                   '[exclude]\nstablecoins = []\nwrapped = []\nstaked = []\n')
    with pytest.raises(categories.CategoryTableError, match=r"\[categories.x\] tickers must be upper case"):
        categories.load(bad)


def test_a_folder_is_stored_whole_or_not_at_all(tmp_path):
    target = tmp_path / "universe" / "20240301T000000000000Z"
    with pytest.raises(storage.StorageKeyError, match="leaves the folder"):
        storage.write_folder({"a.json": b"{}", "../escape.json": b"{}"}, target)
    assert not target.exists() and list((tmp_path / "universe").iterdir()) == []
    storage.write_folder({"a.json": b"{}", "raw/b.json": b"[]"}, target)
    assert (target / "raw" / "b.json").read_bytes() == b"[]"
    with pytest.raises(FileExistsError, match="never replaced"):
        storage.write_folder({"a.json": b"1"}, target)


def test_no_candidate_stores_nothing_and_says_why(tmp_path):
    with (FakeCoinGecko(coins()) as gecko,
          FakeBinance(toy_candles, [], now=FAKE_NOW, markets=markets()) as fake):
        cfg = from_mapping({"warehouse": {"root": "wh"},
                            "universe": {"quote_asset": "EUR", "size": 5, "coingecko_url": gecko.url},
                            "binance": {"rest_url": fake.url}}, base_dir=tmp_path)
        refused = r"none of CoinGecko's 31 best market caps trades against EUR on Binance \(0 excluded\)"
        with pytest.raises(build.UniverseError, match=refused + ": nothing stored"):
            build.build(cfg, taken_at=FAKE_NOW)
    assert not (tmp_path / "wh" / "universe").exists()
