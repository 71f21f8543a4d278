"""Trading symbols: the one rule of what a symbol may be.

A symbol is a Binance spot symbol such as ``BTCUSDT``: 2 to 20 ASCII upper-case letters or
digits, nothing else. The rule is deliberately that narrow: a symbol becomes a Dagster partition
key, a folder name in the warehouse (``symbol=<SYMBOL>``) and part of a Binance URL, so anything
beyond ``[A-Z0-9]`` (``/``, ``.``, spaces, NUL, lower case, non-ASCII letters) is refused before
it reaches a path, a request or a partition. Settings, every source and the storage call
:func:`check_symbol`; it lives here, apart from all of them, because each of them needs it.
"""

from __future__ import annotations

import re

from threadx_core.errors import ThreadXError

#: What a symbol may be, matched against the whole string (``fullmatch``: no trailing newline).
SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}", re.ASCII)


class SymbolError(ThreadXError, ValueError):
    """A symbol that is not 2 to 20 ASCII upper-case letters or digits."""


def check_symbol(symbol: object) -> str:
    """``symbol`` itself if it is a valid symbol; else raises ``SymbolError`` naming it."""
    if not isinstance(symbol, str) or SYMBOL_PATTERN.fullmatch(symbol) is None:
        shown = symbol if not isinstance(symbol, str) or len(symbol) <= 40 else symbol[:40] + "…"
        raise SymbolError(f"symbol {shown!r} is not a Binance spot symbol "
                          "(2-20 upper-case letters or digits, like 'BTCUSDT')")
    return symbol
