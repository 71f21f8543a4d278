"""The canonical data contracts (docs/ARCHITECTURE.md, Data contracts) as pandera schemas.

``RAW_1M`` is the one definition of a 1-minute candle frame: sources return it, the IO layer
validates it before every write, the asset checks and the tests reuse it. ``OHLCV`` is the frame
of a derived timeframe. Both keep ``open_time`` as a column (``timestamp[ms, UTC]``, the candle's
open), never only as an index. ``UNIVERSE`` is the symbol universe's members, one row each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from threadx_core.times import MINUTE_MS, TIME_DTYPE

PRICE_COLUMNS = ("open", "high", "low", "close")
AMOUNT_COLUMNS = ("volume", "quote_volume", "taker_buy_base", "taker_buy_quote")
RAW_1M_COLUMNS = ("open_time", *PRICE_COLUMNS, "volume", "quote_volume", "trades",
                  "taker_buy_base", "taker_buy_quote", "filled")
OHLCV_COLUMNS = ("open_time", *PRICE_COLUMNS, "volume", "quote_volume", "trades",
                 "taker_buy_base", "taker_buy_quote", "minutes", "filled_minutes", "complete")


def _ohlc_coherent(df: pd.DataFrame) -> pd.Series:
    """Row-wise ``low <= min(open, close) <= max(open, close) <= high`` (False with NaN); on
    numpy arrays when the columns are float64 (a third of the cost), else on the Series."""
    o, h, lo, c = (df[name] for name in PRICE_COLUMNS)
    if all(s.dtype == np.float64 for s in (o, h, lo, c)):
        o, h, lo, c = (s.to_numpy() for s in (o, h, lo, c))
        return pd.Series((lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h), index=df.index)
    return (lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h)


def _common_columns() -> dict[str, pa.Column]:
    price = {c: pa.Column(np.float64, pa.Check.gt(0), nullable=False) for c in PRICE_COLUMNS}
    amount = {c: pa.Column(np.float64, pa.Check.ge(0), nullable=False) for c in AMOUNT_COLUMNS}
    return {
        "open_time": pa.Column(TIME_DTYPE, nullable=False, unique=True),
        **price,
        "volume": amount["volume"],
        "quote_volume": amount["quote_volume"],
        "trades": pa.Column(np.int64, pa.Check.ge(0), nullable=False),
        "taker_buy_base": amount["taker_buy_base"],
        "taker_buy_quote": amount["taker_buy_quote"],
    }


def _frame_checks(step_ms: int | None) -> list[pa.Check]:
    checks = [
        pa.Check(_ohlc_coherent, element_wise=False,
                 error="OHLC incoherent: need low <= min(open, close) <= max(open, close) <= high"),
        pa.Check(lambda df: df["open_time"].is_monotonic_increasing, element_wise=False,
                 error="open_time is not sorted increasing"),
    ]
    if step_ms is not None:
        checks.append(pa.Check(
            lambda df: (df["open_time"].astype("int64") % step_ms == 0).all(),
            element_wise=False, error="open_time is not aligned to the minute"))
    return checks


RAW_1M = pa.DataFrameSchema(
    {**_common_columns(), "filled": pa.Column(bool, nullable=False)},
    checks=_frame_checks(MINUTE_MS),
    strict=True,
    ordered=True,
    name="raw_1m",
)

OHLCV = pa.DataFrameSchema(
    {
        **_common_columns(),
        "minutes": pa.Column(np.int64, pa.Check.ge(1), nullable=False),
        "filled_minutes": pa.Column(np.int64, pa.Check.ge(0), nullable=False),
        "complete": pa.Column(bool, nullable=False),
    },
    checks=_frame_checks(MINUTE_MS),
    strict=True,
    ordered=True,
    name="ohlcv",
)


#: The ``universe`` asset: one row per member, by ``rank`` (threadx_core/universe/ranking.py).
UNIVERSE_COLUMNS = ("rank", "symbol", "base", "name", "coingecko_id", "market_cap_rank", "market_cap",
                    "quote_volume", "mc_score", "vol_score", "score", "categories", "reason")

UNIVERSE = pa.DataFrameSchema(
    {
        "rank": pa.Column(np.int64, pa.Check.ge(1), nullable=False, unique=True),
        "symbol": pa.Column(str, pa.Check.str_matches(r"^[A-Z0-9]{2,20}$"), nullable=False, unique=True),
        "base": pa.Column(str, nullable=False, unique=True),
        "name": pa.Column(str, nullable=False),
        "coingecko_id": pa.Column(str, nullable=False, unique=True),
        "market_cap_rank": pa.Column(np.int64, pa.Check.ge(1), nullable=False),
        "market_cap": pa.Column(np.float64, pa.Check.ge(0), nullable=False),
        "quote_volume": pa.Column(np.float64, pa.Check.ge(0), nullable=False),
        "mc_score": pa.Column(np.float64, pa.Check.in_range(0, 100), nullable=False),
        "vol_score": pa.Column(np.float64, pa.Check.in_range(0, 100), nullable=False),
        "score": pa.Column(np.float64, pa.Check.in_range(0, 200), nullable=False),
        "categories": pa.Column(str, nullable=False),
        "reason": pa.Column(str, pa.Check.str_matches(r"^(top_n|category:[a-z0-9_]+)$"), nullable=False),
    },
    checks=[pa.Check(lambda df: df["rank"].is_monotonic_increasing, element_wise=False,
                     error="rank is not sorted increasing")],
    strict=True,
    ordered=True,
    name="universe",
)


def empty_raw_1m() -> pd.DataFrame:
    """A zero-row frame with the exact columns and dtypes of ``RAW_1M``."""
    dtypes = {"open_time": TIME_DTYPE, "trades": np.int64, "filled": bool}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, np.float64)) for c in RAW_1M_COLUMNS})


def validate_raw_1m(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Validate ``frame`` against ``RAW_1M``; on failure raise ``ValueError`` whose message starts
    with ``where`` (e.g. ``"BTCUSDT 2024-03"`` or a file path) and lists the failing checks."""
    return _validate(RAW_1M, frame, where)


def validate_ohlcv(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Validate a derived-timeframe frame against ``OHLCV``; errors start with ``where``."""
    return _validate(OHLCV, frame, where)


def validate_universe(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Validate a universe frame against ``UNIVERSE``; errors start with ``where``."""
    return _validate(UNIVERSE, frame, where)


def _validate(schema: pa.DataFrameSchema, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.drop_duplicates(["check"]).head(10)
        lines = [f"{r.check} [column {r.column}, row {r.index}, value {r.failure_case!r}]"
                 for r in cases.itertuples()]
        raise ValueError(f"{where}: {schema.name} schema violated:\n  " + "\n  ".join(lines)) from None
