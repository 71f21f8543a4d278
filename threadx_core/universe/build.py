"""A universe from the live answers: fetch CoinGecko and Binance, select, store, compare.

Contract
--------
:func:`build` asks CoinGecko for the ``[universe] candidates`` best market caps
(``coingecko_url``; ``[binance]`` retries and time-outs), Binance for its 24 h tickers and
exchangeInfo (``[binance] rest_url``, through the project's one IP weight record), selects the
members (``threadx_core.universe.ranking.select``: ``quote_asset``, ``size``, the category table and
``category_minimums``), stores them with the raw answers in a new folder
(``threadx_core.universe.store``) and returns :class:`Built`, with the symbols ``added`` and
``removed`` since the newest universe stored before it (every member is ``added`` the first
time). Nothing is stored when a request fails or no candidate is left (``UniverseError``
naming the quote asset): an empty universe would stop every top-up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from threadx_core.data.binance.http import Sleep
from threadx_core.data.binance.markets import BinanceMarkets
from threadx_core.data.sources import binance_client
from threadx_core.errors import ThreadXError
from threadx_core.settings import Settings
from threadx_core.universe import categories, ranking, store
from threadx_core.universe.coingecko import CoinGeckoClient


class UniverseError(ThreadXError, RuntimeError):
    """No universe could be selected from the answers."""


@dataclass(frozen=True)
class Built:
    """A stored universe: its folder, members, excluded candidates, warnings, the symbols added
    and removed since the previous one (``previous``: its folder, ``None`` the first time), and
    the category table version and minimums it was selected with."""

    path: Path
    members: pd.DataFrame
    excluded: pd.DataFrame
    warnings: list[str]
    added: list[str]
    removed: list[str]
    previous: Path | None
    table: categories.Table
    minimums: dict[str, int]


def build(settings: Settings, *, taken_at: pd.Timestamp, sleep: Sleep = time.sleep,
          logger: logging.Logger | None = None) -> Built:
    """Fetch, select and store the universe of ``settings`` (see the module docstring)."""
    u, b = settings.universe, settings.binance
    table = categories.load()
    minimums = table.minimums(u.category_minimums)
    root = settings.warehouse.root
    previous = store.latest(root)
    before = set(store.members(previous)["symbol"]) if previous is not None else set()
    gecko = CoinGeckoClient(u.coingecko_url, max_retries=b.max_retries, timeout_s=b.timeout_s,
                            backoff_base_s=b.backoff_base_s, backoff_max_s=b.backoff_max_s,
                            sleep=sleep, logger=logger)
    markets = gecko.markets(u.candidates)
    binance = BinanceMarkets(binance_client(settings))
    ticker, info = binance.ticker_24hr(), binance.exchange_info()
    selection = ranking.select(markets.coins, ticker.data, info.data["symbols"], quote=u.quote_asset,
                               size=u.size, table=table, minimums=minimums)
    if selection.members.empty:
        raise UniverseError(f"universe: none of CoinGecko's {len(markets.coins)} best market caps trades "
                            f"against {u.quote_asset} on Binance ({len(selection.excluded)} excluded): "
                            "nothing stored")
    raw = {f"coingecko-markets-{page}.json": body for page, body in enumerate(markets.pages, 1)}
    raw |= {"binance-ticker-24hr.json": ticker.body, "binance-exchangeInfo.json": info.body}
    manifest = {"taken_at": taken_at.isoformat(), "quote_asset": u.quote_asset, "size": u.size,
                "candidates": u.candidates, "coingecko_url": u.coingecko_url, "binance_url": b.rest_url,
                "category_table_version": table.version, "category_minimums": minimums,
                "warnings": selection.warnings}
    path = store.write(store.folder(root, taken_at), selection.members, selection.excluded, raw, manifest)
    after = set(selection.members["symbol"])
    return Built(path, selection.members, selection.excluded, selection.warnings,
                 sorted(after - before), sorted(before - after), previous, table, minimums)


def current_symbols(settings: Settings) -> list[str] | None:
    """The members (symbols, by rank) of the newest stored universe; ``None`` when none is."""
    latest = store.latest(settings.warehouse.root)
    return None if latest is None else list(store.members(latest)["symbol"])
