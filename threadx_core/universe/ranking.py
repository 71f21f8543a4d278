"""The universe from the three answers: candidates, score, the top-N cut, category minimums.

Contract
--------
:func:`select` takes CoinGecko's coins (best market cap first), Binance's 24 h tickers and
exchangeInfo symbols, and returns a :class:`Selection`: the members (``threadx_core.schema.UNIVERSE``
frame, by ``rank``), every excluded candidate with its reason, and the warnings.

1. **Candidates.** A CoinGecko coin is a candidate when a Binance symbol with ``baseAsset`` equal
   to its upper-cased ticker, ``quoteAsset`` equal to ``quote`` and ``status`` ``TRADING`` exists
   (only such a pair has candles to research). Tickers collide on CoinGecko (copies of famous
   tickers): the best-ranked coin of a ticker is kept, the others are dropped.
2. **Exclusions** (``threadx_core.universe.exclusions``): stablecoins, wrapped, staked and
   leveraged tokens, and a pair whose name is no valid symbol (``threadx_core.symbols``).
3. **Score** (0–200), with ``R`` the number of coins CoinGecko ranked here:
   ``mc_score = 100 × (R + 1 − market_cap_rank) / R`` (clipped to 0–100: rank 1 → 100; with
   R = 100 it is the legacy ``101 − rank``) and ``vol_score = 100 ×`` the percentile of the pair's
   24 h quote volume among the candidates (0 for no volume). The legacy gave 1 point per
   $1 M capped at 100, which saturates for nearly every top-100 USDT pair and depends on the quote
   asset's liquidity; a percentile discriminates at every size and in USDT and USDC alike. Its
   20-point "on both sources" bonus is gone: every candidate is on both by rule 1.
   Ties break by market-cap rank, then symbol.
4. **Cut**: the ``size`` best-scored candidates (``reason`` ``top_n``).
5. **Category minimums**, category by category in table order: a category with fewer members
   than its minimum gets its best-scored candidates outside the universe (``reason``
   ``category:<key>``), so the universe may exceed ``size`` by the shortfalls. Only real
   candidates are taken; a category that still falls short is a warning naming it, its members
   and minimum, and the quote asset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from threadx_core.schema import UNIVERSE_COLUMNS, validate_universe
from threadx_core.symbols import SymbolError, check_symbol
from threadx_core.universe import exclusions
from threadx_core.universe.categories import Table


@dataclass(frozen=True)
class Selection:
    """The members, the excluded candidates (``symbol``, ``name``, ``reason``) and the warnings."""

    members: pd.DataFrame
    excluded: pd.DataFrame
    warnings: list[str]


def select(coins: list[dict[str, Any]], tickers: list[dict[str, Any]], exchange_symbols: list[dict[str, Any]],
           *, quote: str, size: int, table: Table, minimums: Mapping[str, int]) -> Selection:
    """The universe of these answers (see the module docstring)."""
    pairs = {s["baseAsset"]: s["symbol"] for s in exchange_symbols
             if s["status"] == "TRADING" and s["quoteAsset"] == quote}
    volume = {t["symbol"]: _float(t["quoteVolume"]) for t in tickers}
    rows, excluded, seen = [], [], set()
    for coin in coins:
        base, rank = str(coin["symbol"]).upper(), coin["market_cap_rank"]
        if rank is None or base in seen or base not in pairs:
            continue
        seen.add(base)
        symbol, name = pairs[base], str(coin["name"])
        why = exclusions.reason(base, name, _float(coin.get("current_price")), pairs.keys(), table)
        if why is None:
            try:
                check_symbol(symbol)
            except SymbolError:
                why = "invalid symbol"
        if why is not None:
            excluded.append({"symbol": symbol, "name": name, "reason": why})
            continue
        rows.append({"symbol": symbol, "base": base, "name": name, "coingecko_id": str(coin["id"]),
                     "market_cap_rank": int(rank), "market_cap": _float(coin.get("market_cap")) or 0.0,
                     "quote_volume": volume.get(symbol, 0.0) or 0.0,
                     "categories": ",".join(table.of(base))})
    ranked = _scored(pd.DataFrame(rows, columns=_ROW_COLUMNS), span=len(coins))
    members = ranked.head(size).assign(reason="top_n")
    rest = ranked.iloc[size:]
    warnings = []
    for category in table.categories:
        minimum = minimums[category.key]
        have = int(in_category(members, category.key).sum())
        if have >= minimum:
            continue
        extra = rest[in_category(rest, category.key)].head(minimum - have)
        members = pd.concat([members, extra.assign(reason=f"category:{category.key}")])
        rest = rest.drop(extra.index)
        if have + len(extra) < minimum:
            names = ", ".join(members.loc[in_category(members, category.key), "base"]) or "none"
            warnings.append(f"category {category.key} ({category.name}): {have + len(extra)} of its "
                            f"minimum {minimum} member(s) ({names}): no other ranked candidate of it "
                            f"trades against {quote} on Binance")
    members = members.sort_values("rank", kind="stable").reset_index(drop=True)[list(UNIVERSE_COLUMNS)]
    return Selection(validate_universe(members, "universe"),
                     pd.DataFrame(excluded, columns=["symbol", "name", "reason"]), warnings)


_ROW_COLUMNS = ["symbol", "base", "name", "coingecko_id", "market_cap_rank", "market_cap",
                "quote_volume", "categories"]


def _scored(candidates: pd.DataFrame, span: int) -> pd.DataFrame:
    """``candidates`` with ``mc_score``, ``vol_score``, ``score`` and ``rank``, best first."""
    text = {c: str for c in ("symbol", "base", "name", "coingecko_id", "categories")}  # also when empty
    frame = candidates.astype({**text, "market_cap_rank": np.int64, "market_cap": np.float64,
                               "quote_volume": np.float64})
    span = max(span, 1)
    frame["mc_score"] = (100.0 * (span + 1 - frame["market_cap_rank"]) / span).clip(0.0, 100.0)
    percentile = frame["quote_volume"].rank(pct=True, method="average")
    frame["vol_score"] = (100.0 * percentile).where(frame["quote_volume"] > 0, 0.0).astype(np.float64)
    frame["score"] = frame["mc_score"] + frame["vol_score"]
    frame = frame.sort_values(["score", "market_cap_rank", "symbol"], ascending=[False, True, True],
                              kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame


def in_category(frame: pd.DataFrame, key: str) -> pd.Series:
    """Which rows of ``frame`` (``categories``: comma-joined keys) belong to category ``key``."""
    return frame["categories"].str.split(",").apply(lambda keys: key in keys).astype(bool)


def per_category(members: pd.DataFrame, table: Table) -> dict[str, list[str]]:
    """The base tickers of ``members`` in each category of ``table`` (sorted), in table order."""
    return {c.key: sorted(members.loc[in_category(members, c.key), "base"]) for c in table.categories}


def _float(value: Any) -> float | None:
    """A JSON number or numeric string as a float (``None`` for null or empty)."""
    if value is None or value == "":
        return None
    return float(value)
