"""What the universe never holds: stablecoins, wrapped, staked and leveraged tokens.

Contract
--------
:func:`reason` returns why a candidate is excluded (``"stablecoin"``, ``"wrapped"``, ``"staked"``,
``"leveraged"``) or ``None``. The rules, in this order (the first that matches names the reason):

- **stablecoin**: the base is in the table's ``[exclude] stablecoins`` list, or its ticker or name
  says ``USD``/``dollar`` and its CoinGecko price is within 3 % of 1 USD (a new dollar token
  is caught by name and price; a euro or gold token must be listed);
- **wrapped**: in ``[exclude] wrapped``, or the name holds the word *wrapped* or *bridged*;
- **staked**: in ``[exclude] staked``, or the name holds *staked*, *restaked* or *staking*;
- **leveraged**: the name holds *leveraged* or ``3x long``/``short`` (any 2-5x), or the base is
  another tradable base followed by ``UP``, ``DOWN``, ``BULL``, ``BEAR`` or ``2L``..``5S``
  (Binance's leveraged tokens, e.g. ``BTCUP``; ``JUP`` stays, ``J`` is no base).

Each such token tracks another asset (a currency, a coin, a staking position or a multiple of
a coin), so a mean-reversion study of it would re-study that asset or a peg.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from threadx_core.universe.categories import Table

#: How close to 1 USD (relative) a USD-named token must trade to count as a stablecoin.
PEG_TOLERANCE = 0.03

_USD = re.compile(r"USD|DOLLAR", re.IGNORECASE)
_WRAPPED = re.compile(r"\b(wrapped|bridged)\b", re.IGNORECASE)
_STAKED = re.compile(r"\b(staked|restaked|staking)\b", re.IGNORECASE)
_LEVERAGED_NAME = re.compile(r"\bleveraged\b|\b[2-5]x\s+(long|short)\b", re.IGNORECASE)
_LEVERAGED_BASE = re.compile(r"^(?P<stem>[A-Z0-9]+?)(UP|DOWN|BULL|BEAR|[2-5][LS])$")


def reason(base: str, name: str, price: float | None, bases: Collection[str], table: Table) -> str | None:
    """Why ``base`` (ticker ``base``, CoinGecko ``name`` and USD ``price``) is excluded, or
    ``None``; ``bases`` are every tradable base ticker (to recognise ``BTCUP`` from ``BTC``)."""
    if base in table.exclude["stablecoins"] or (
            (_USD.search(base) or _USD.search(name)) and price is not None
            and abs(price - 1.0) <= PEG_TOLERANCE):
        return "stablecoin"
    if base in table.exclude["wrapped"] or _WRAPPED.search(name):
        return "wrapped"
    if base in table.exclude["staked"] or _STAKED.search(name):
        return "staked"
    match = _LEVERAGED_BASE.match(base)
    if _LEVERAGED_NAME.search(name) or (match is not None and match["stem"] in bases):
        return "leveraged"
    return None
