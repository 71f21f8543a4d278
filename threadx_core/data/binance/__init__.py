"""Binance market data: 1-minute klines from the REST API and from the monthly archives
(docs/ARCHITECTURE.md, Binance).

One module per job:

- :mod:`.http`: what REST and the archives share over HTTP: the errors, the retry policy and
  its retrier (429 ``Retry-After``, 5xx and network back-off, 418 bans);
- :mod:`.ip_state`: the IP's request-weight budget and bans, one record shared by every process;
- :mod:`.klines`: the kline wire format: its 12 fields, page parsing (the JSON path and the fast
  CSV translation of canonical bodies) and the canonical raw_1m frame built from the columns;
- :mod:`.rest`: :class:`BinanceClient`, paging ``/api/v3/klines`` over ``[start, end)``;
- :mod:`.vision`: :class:`BinanceVision`, the checksummed monthly zip archives.

Both clients return validated raw_1m frames (``threadx_core.schema.RAW_1M``) and raise a
:class:`BinanceError` (message naming the symbol and the UTC time) when they cannot.
"""

from threadx_core.data.binance.http import (
    BinanceError,
    InvalidSymbolError,
    IPBannedError,
    MalformedResponseError,
)
from threadx_core.data.binance.ip_state import IpStateError
from threadx_core.data.binance.klines import raw_1m_frame
from threadx_core.data.binance.rest import BinanceClient
from threadx_core.data.binance.vision import ArchiveError, ArchiveNotFoundError, BinanceVision

__all__ = [
    "ArchiveError",
    "ArchiveNotFoundError",
    "BinanceClient",
    "BinanceError",
    "BinanceVision",
    "IPBannedError",
    "InvalidSymbolError",
    "IpStateError",
    "MalformedResponseError",
    "raw_1m_frame",
]
