"""Legacy TradXPro/ThreadX candle files, read as they are and normalised explicitly.

What the legacy tools left behind (docs/GUIDE.md, Migrating legacy data): one file per symbol and
interval, named ``SYMBOL_TF`` or ``SYMBOL-TF`` (``binance-`` prefix, ``tf`` before the
timeframe and trailing words such as a year allowed), in any folder: JSON arrays of records
(``crypto_data_json/X_1h.json``), pandas Parquet with the times in a ``DatetimeIndex``
(``crypto_data_parquet/X_1h.parquet``), Parquet or CSV with an epoch column, or the migration
tool's own outputs whose timestamps were dropped to a ``RangeIndex``.

Rules, each one stated in the :class:`LegacyFrame` it produces:

- the timeframe is case-sensitive (``1M`` is a month, not a minute: refused) and must divide a
  UTC day (``threadx_core.times.tf_minutes``); the symbol, upper-cased, must pass
  :func:`threadx_core.symbols.check_symbol`, so no file name reaches a path unchecked;
- columns are mapped by :data:`COLUMNS` only (case-insensitive): ``volume``/``v`` and nothing else
  becomes ``volume``; two columns mapping to one name, or a missing price or volume column, refuse
  the file; every other column is reported as unknown and not imported (``close_time`` too: it
  would shift every label by a minute); raw_1m's amounts that the file lacks are stored as 0 and
  named in ``zero_filled``;
- the time is the first present of :data:`TIME_COLUMNS`, else a ``DatetimeIndex``; a file with
  neither (a ``RangeIndex``: the legacy tool dropped its timestamps) is refused. Epoch numbers get
  their unit from their magnitude, value by value (s, ms, µs or ns; a file may mix ms and µs, as
  Binance archives did in 2025), and every time must fall in :data:`PLAUSIBLE`: a 1970 date is a
  unit error, never data; naive datetimes are taken as UTC;
- duplicate open times keep the last row in file order (as the legacy downloader did), counted.

Every refusal is a :class:`LegacyFileError` whose one line names the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from threadx_core import times
from threadx_core.errors import ThreadXError
from threadx_core.schema import RAW_1M_COLUMNS
from threadx_core.symbols import check_symbol

#: File extensions a legacy candle file may have (case-insensitive).
EXTENSIONS = (".json", ".parquet", ".csv")
#: Legacy column name (lower case) → raw_1m column. Nothing else is mapped.
COLUMNS = {
    "open": "open", "o": "open",
    "high": "high", "h": "high",
    "low": "low", "l": "low",
    "close": "close", "c": "close",
    "volume": "volume", "v": "volume",
    "quote_volume": "quote_volume", "quote_asset_volume": "quote_volume", "q": "quote_volume",
    "trades": "trades", "count": "trades", "number_of_trades": "trades", "n": "trades",
    "taker_buy_base": "taker_buy_base", "taker_buy_volume": "taker_buy_base",
    "taker_buy_base_asset_volume": "taker_buy_base",
    "taker_buy_quote": "taker_buy_quote", "taker_buy_quote_volume": "taker_buy_quote",
    "taker_buy_quote_asset_volume": "taker_buy_quote",
}
#: Columns that may hold the candle's open time, in order of preference (case-insensitive).
TIME_COLUMNS = ("open_time", "timestamp", "time", "datetime", "date", "ts")
REQUIRED = ("open", "high", "low", "close", "volume")
#: Epoch magnitudes, seconds first: a value below the first bound is seconds, and so on.
_UNITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf")))
_TO_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
#: Times a legacy candle may have: from Binance's first trading day to a day past now.
PLAUSIBLE = (pd.Timestamp("2017-07-01", tz="UTC"), pd.Timedelta(days=1))
_NAME = re.compile(r"^(?:binance[-_])?(?P<symbol>[A-Za-z0-9]+)[-_](?P<rest>.+)$", re.IGNORECASE | re.ASCII)
_TF = re.compile(r"^(?:tf)?(?P<tf>[0-9]+[a-zA-Z])$")


class LegacyFileError(ThreadXError, ValueError):
    """A legacy file that cannot be imported; the message names the file and why."""


@dataclass(frozen=True)
class LegacyName:
    """What a legacy file's name says: its symbol and timeframe (as written)."""

    symbol: str
    timeframe: str


@dataclass
class LegacyFrame:
    """One legacy file normalised: ``frame`` has raw_1m's columns (``filled`` false; for a coarser
    timeframe the bars as the file had them), sorted by ``open_time``, one row per open time."""

    path: Path
    symbol: str
    timeframe: str
    sha256: str
    frame: pd.DataFrame
    rows_read: int
    duplicates: int
    time_source: str
    units: dict[str, int]
    unknown_columns: list[str] = field(default_factory=list)
    zero_filled: list[str] = field(default_factory=list)


def parse_name(path: Path) -> LegacyName | None:
    """``(symbol, timeframe)`` of a legacy file name, or ``None`` when the name is not a candle
    file's (``BTCUSDT.json``, ``tokens.json``); the symbol is upper-cased but not yet checked."""
    match = _NAME.match(path.stem)
    if match is None:
        return None
    for token in re.split(r"[-_]", match.group("rest")):
        tf = _TF.match(token)
        if tf is not None:
            return LegacyName(match.group("symbol").upper(), tf.group("tf"))
    return None


def discover(src: Path) -> list[Path]:
    """Every file under ``src`` (recursively, sorted) with a legacy extension; hidden files and
    folders are left out."""
    found = []
    for path in sorted(src.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(src).parts)
        if path.is_file() and not hidden and path.suffix.lower() in EXTENSIONS:
            found.append(path)
    return found


def sha256(path: Path) -> str:
    """The file's SHA-256 (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_name(path: Path) -> LegacyName:
    """The file's :func:`parse_name`, with the symbol checked and the timeframe one ThreadX knows;
    raises :class:`LegacyFileError` naming the file otherwise."""
    name = parse_name(path)
    if name is None:
        raise LegacyFileError(f"{path}: the name is not SYMBOL_TF (e.g. BTCUSDT_1m.json)")
    try:
        check_symbol(name.symbol)
        times.tf_minutes(name.timeframe)
    except ValueError as exc:
        raise LegacyFileError(f"{path}: {exc}") from None
    return name


def read(path: Path, now: pd.Timestamp) -> LegacyFrame:
    """Read and normalise one legacy file (module docstring); raises :class:`LegacyFileError`
    naming the file when it cannot be imported as it is."""
    name = checked_name(path)
    digest = sha256(path)
    source = _load(path)
    if source.empty:
        raise LegacyFileError(f"{path}: no rows")
    mapped, unknown = _map_columns(source, path)
    open_time, time_source, units = _times(source, path, now)
    frame = pd.DataFrame({"open_time": open_time})
    missing = [c for c in REQUIRED if c not in mapped]
    if missing:
        raise LegacyFileError(f"{path}: no column for {', '.join(missing)} "
                              f"(columns: {', '.join(map(str, source.columns))})")
    zero_filled = []
    for column in RAW_1M_COLUMNS[1:-1]:
        if column in mapped:
            frame[column] = _numbers(source[mapped[column]], column, path)
        else:
            frame[column] = 0.0
            zero_filled.append(column)
    frame["trades"] = _integers(frame["trades"], path)
    frame["filled"] = False
    rows = len(frame)
    frame = frame.drop_duplicates("open_time", keep="last").sort_values("open_time", kind="stable")
    return LegacyFrame(path, name.symbol, name.timeframe, digest, frame.reset_index(drop=True), rows,
                       rows - len(frame), time_source, units, unknown, zero_filled)


def _load(path: Path) -> pd.DataFrame:
    """The file as pandas gives it, without any date guessing (``read_json`` would convert a
    ``timestamp`` column with a unit of its own choosing: the legacy defect M2)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LegacyFileError(f"{path}: not readable as {suffix[1:]}: {' '.join(str(exc).split())[:160]}") \
            from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise LegacyFileError(f"{path}: a JSON candle file is an array of records "
                              "({\"timestamp\": …, \"open\": …})")
    return pd.DataFrame.from_records(records)


def _map_columns(source: pd.DataFrame, path: Path) -> tuple[dict[str, str], list[str]]:
    """raw_1m column → the source column it comes from, and the unknown columns (in file order)."""
    mapped, unknown = {}, []
    times_present = {str(c).lower() for c in source.columns} & set(TIME_COLUMNS)
    for column in source.columns:
        lower = str(column).lower()
        target = COLUMNS.get(lower)
        if target is None:
            if lower not in times_present:
                unknown.append(str(column))
            continue
        if target in mapped:
            raise LegacyFileError(f"{path}: columns {mapped[target]!r} and {column!r} both map to {target}")
        mapped[target] = column
    return mapped, unknown


def _times(source: pd.DataFrame, path: Path, now: pd.Timestamp) -> tuple[pd.Series, str, dict[str, int]]:
    """The open times as ``TIME_DTYPE``, where they came from, and the units found (unit → rows)."""
    by_lower = {str(c).lower(): c for c in source.columns}
    column = next((by_lower[c] for c in TIME_COLUMNS if c in by_lower), None)
    if column is not None:
        values, where = source[column], f"column {column!r}"
    elif isinstance(source.index, pd.DatetimeIndex):
        values, where = source.index.to_series(index=range(len(source))), "DatetimeIndex"
    else:
        raise LegacyFileError(f"{path}: no time column ({', '.join(TIME_COLUMNS)}) and a "
                              f"{type(source.index).__name__} instead of a DatetimeIndex: the "
                              "timestamps were dropped (legacy migration defect), nothing to import")
    values = values.reset_index(drop=True)
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise LegacyFileError(f"{path}: {where} has a missing time (row {row})")
    if pd.api.types.is_datetime64_any_dtype(values):
        ns, units = _datetimes_ns(values), {f"datetime[{values.dt.unit}]": len(values)}
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        ns, units = _epoch_ns(values)
    else:
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise LegacyFileError(f"{path}: {where} is neither epoch numbers nor ISO dates: "
                                  f"{' '.join(str(exc).split())[:120]}") from None
        ns, units = _datetimes_ns(parsed), {"ISO text": len(values)}
    _check_plausible(ns, path, where, now)
    if np.any(ns % 1_000_000):
        raise LegacyFileError(f"{path}: {where} has times finer than a millisecond")
    return times.open_time_from_ms(ns // 1_000_000), where, units


def _datetimes_ns(values: pd.Series) -> np.ndarray:
    """Datetimes as int64 UTC nanoseconds; naive ones are taken as UTC."""
    tz = values.dt.tz
    utc = values.dt.tz_localize("UTC") if tz is None else values.dt.tz_convert("UTC")
    return utc.dt.as_unit("ns").astype("int64").to_numpy()


def _epoch_ns(values: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Epoch numbers as int64 nanoseconds, each value's unit from its magnitude."""
    magnitude = np.abs(values.to_numpy(np.float64))
    out, units = np.empty(len(values), dtype=np.int64), {}
    lower = 0.0
    for unit, upper in _UNITS:
        chosen = (magnitude >= lower) & (magnitude < upper)
        if chosen.any():
            units[unit] = int(chosen.sum())
            raw = values.to_numpy()[chosen]
            scaled = (raw.astype(np.int64) * _TO_NS[unit] if np.issubdtype(raw.dtype, np.integer)
                      else np.round(raw.astype(np.float64) * _TO_NS[unit]).astype(np.int64))
            out[chosen] = scaled
        lower = upper
    return out, units


def _check_plausible(ns: np.ndarray, path: Path, where: str, now: pd.Timestamp) -> None:
    first, slack = PLAUSIBLE
    lo, hi = first.value, (now + slack).value
    bad = np.flatnonzero((ns < lo) | (ns > hi))
    if len(bad):
        shown = pd.Timestamp(int(ns[bad[0]]), tz="UTC")
        raise LegacyFileError(f"{path}: {where} row {bad[0]} reads as {shown.isoformat()}, outside "
                              f"{first.date()}..{(now + slack).date()}: a wrong epoch unit or no time at all")


def _numbers(values: pd.Series, column: str, path: Path) -> np.ndarray:
    """``values`` as float64 (Binance-style numeric strings parse); a value that is not a number
    refuses the file."""
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(np.isnan(parsed) & values.notna().to_numpy())
    if len(bad):
        raise LegacyFileError(f"{path}: column {values.name!r} ({column}) row {bad[0]} is not a number: "
                              f"{values.iloc[bad[0]]!r}")
    return parsed


def _integers(values: pd.Series, path: Path) -> np.ndarray:
    numbers = values.to_numpy(np.float64)
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        raise LegacyFileError(f"{path}: the trades column holds values that are not whole numbers")
    return numbers.astype(np.int64)
