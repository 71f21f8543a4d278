"""The embedded offline data source: deterministic synthetic 1-minute candles.

Every candle is a pure function of ``(symbol, seed, minute)``: asking for one minute, a month or a
year gives the same candle at the same minute. The construction is a chain of UTC days from
``ORIGIN``:

- per day, an anchor log-price (a slow mean-reverting walk around a stable per-symbol level, so
  BTCUSDT stays roughly within 30 000–100 000) and a volatility level (a mean-reverting log-vol
  walk), both drawn from one stream seeded by ``(seed, symbol)`` in fixed blocks of days;
- per day, the minute path from its own generator seeded by ``(seed, symbol, day)``: fat-tailed
  (Student-t, 4 degrees of freedom) returns whose volatility follows the daily level, a UTC
  hour-of-day profile and an AR(1) log-volatility (clustering), plus occasional jumps that decay
  back within tens of minutes (mean-reverting excursions). The path is bridged from the day's
  anchor to the next day's anchor, so the last close of a day is exactly the next day's first open.

Within a window, ``open`` is the previous ``close``; ``high``/``low`` extend beyond them by a
volatility-scaled amount; volume follows the hour-of-day profile and rises with ``|return|``;
``quote_volume`` is volume times the typical price ``(high + low + close) / 3``; ``trades`` is
proportional to volume; the taker-buy share stays within 35–65 %. Amounts are rounded to a
per-symbol binary grid, so resampled sums are exact (see ``resample``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from threadx_core.schema import empty_raw_1m, validate_raw_1m
from threadx_core.symbols import check_symbol
from threadx_core.times import MINUTE_MS, MINUTES_PER_DAY, open_time_from_ms, to_ms, utc

#: First UTC day of the synthetic chain; no candle exists before it.
ORIGIN = pd.Timestamp("2015-01-01", tz="UTC")

_DAY_MS = MINUTES_PER_DAY * MINUTE_MS
_ORIGIN_MS = to_ms(ORIGIN)
_BLOCK_DAYS = 1024
_KNOWN = {"BTCUSDT": (55_000.0, 0.030, 1.5e6), "ETHUSDT": (2_500.0, 0.038, 8e5)}
_MAX_OUTAGE_MINUTES = 120
_STREAM_CHAIN, _STREAM_DAY = 0, 1


def synthetic(symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str, seed: int = 0, *,
              gap_probability: float = 0.0) -> pd.DataFrame:
    """Canonical raw_1m candles of ``symbol`` with ``open_time`` in ``[start, end)`` (UTC).

    ``start``/``end`` are Timestamps or ISO strings (naive means UTC); ``start`` must not precede
    ``ORIGIN``; ``symbol`` must be a valid symbol (``threadx_core.symbols``, else ``SymbolError``).
    ``gap_probability`` in ``[0, 1)`` is, per UTC day, the chance of an exchange outage: a run of
    1–120 missing minutes (absent rows), deterministic like everything else. Returns a frame
    validated against ``schema.RAW_1M``, ``filled`` all False; empty when ``end <= start``.
    """
    first_ms, end_ms = _window_ms(start, end)
    _check_arguments(symbol, seed, gap_probability, first_ms)
    if end_ms <= first_ms:
        return empty_raw_1m()
    key = (seed, _symbol_key(symbol))
    first_day, last_day = (first_ms - _ORIGIN_MS) // _DAY_MS, (end_ms - 1 - _ORIGIN_MS) // _DAY_MS
    days = np.arange(first_day, last_day + 1)
    columns, present = _days(key, _Profile.of(symbol), days, gap_probability)
    ms = (_ORIGIN_MS + days[:, None] * _DAY_MS + np.arange(MINUTES_PER_DAY) * MINUTE_MS).ravel()
    keep = present.ravel() & (ms >= first_ms) & (ms < end_ms)
    frame = pd.DataFrame({"open_time": open_time_from_ms(ms[keep]),
                          **{c: v.ravel()[keep] for c, v in columns.items()},
                          "filled": np.zeros(int(keep.sum()), dtype=bool)})
    return validate_raw_1m(frame, f"synthetic {symbol}")


def _window_ms(start: pd.Timestamp | str, end: pd.Timestamp | str) -> tuple[int, int]:
    """``[start, end)`` as the ms of the first and one-past-last minute slot it contains."""
    first, stop = utc(start).ceil("min"), utc(end).ceil("min")
    return to_ms(first), to_ms(stop)


def _check_arguments(symbol: str, seed: int, gap_probability: float, first_ms: int) -> None:
    check_symbol(symbol)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= gap_probability < 1.0:
        raise ValueError(f"gap_probability must be in [0, 1), got {gap_probability!r}")
    if first_ms < _ORIGIN_MS:
        raise ValueError(f"synthetic data starts at {ORIGIN.isoformat()}; the window starts before")


def _symbol_key(symbol: str) -> int:
    """A stable 63-bit hash of ``symbol`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(symbol.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _Profile:
    """Per-symbol constants: price level, daily volatility, quote volume per minute, grids."""

    def __init__(self, level: float, daily_vol: float, quote_per_minute: float) -> None:
        self.log_level = float(np.log(level))
        self.log_daily_vol = float(np.log(daily_vol))
        self.base_per_minute = quote_per_minute / level
        self.trades_per_base = 600.0 / self.base_per_minute
        # Binary grids ~2**-30 of a typical minute's amount: a day's total stays far below 2**53
        # grid steps, so sums of amounts are exact whatever their grouping.
        self.base_grid = 2.0 ** (np.floor(np.log2(self.base_per_minute)) - 30)
        self.quote_grid = 2.0 ** (np.floor(np.log2(quote_per_minute)) - 30)

    @classmethod
    def of(cls, symbol: str) -> _Profile:
        if symbol in _KNOWN:
            return cls(*_KNOWN[symbol])
        u = np.random.default_rng(_symbol_key(symbol)).random(3)
        return cls(10.0 ** (4.0 * u[0] - 1.0), 0.04 + 0.03 * u[1], 10.0 ** (4.0 + 1.5 * u[2]))


def _chain(key: tuple[int, int], profile: _Profile, last_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily anchor log-prices for days ``0..last_day + 1`` and log daily volatilities for days
    ``0..last_day``, each value depending only on the days before it (never on ``last_day``)."""
    blocks = last_day // _BLOCK_DAYS + 1
    shocks = np.concatenate([
        np.random.default_rng(np.random.SeedSequence([*key, _STREAM_CHAIN, b]))
        .standard_normal((_BLOCK_DAYS, 2)) for b in range(blocks)])
    anchor, log_vol = profile.log_level, profile.log_daily_vol
    anchors, log_vols = [anchor], []
    for z_price, z_vol in shocks[: last_day + 1].tolist():
        log_vols.append(log_vol)
        anchor += 0.03 * (profile.log_level - anchor) + np.exp(log_vol) * z_price
        log_vol += 0.1 * (profile.log_daily_vol - log_vol) + 0.1 * z_vol
        anchors.append(anchor)
    return np.array(anchors), np.array(log_vols)


def _ar1(shocks: np.ndarray, coef: float) -> np.ndarray:
    """Row-wise AR(1) ``x[t] = coef * x[t-1] + shocks[t]`` with ``x[0] = shocks[0]``, vectorised
    as ``coef**t * cumsum(shocks[s] * coef**-s)`` (stable for ``coef**-1440`` within float64)."""
    t = np.arange(shocks.shape[1])
    return coef ** t * np.cumsum(shocks * coef ** -t, axis=1)


def _hour_profiles() -> tuple[np.ndarray, np.ndarray]:
    """Per-minute-of-day volatility (RMS 1) and volume (mean 1) multipliers: busier around the
    US session (≈14:30 UTC) and the Asian open (≈01:00 UTC)."""
    hours = np.arange(MINUTES_PER_DAY) / 60.0
    shape = (0.7 + 0.6 * np.exp(-0.5 * ((hours - 14.5) / 2.5) ** 2)
             + 0.25 * np.exp(-0.5 * ((hours - 1.0) / 2.0) ** 2))
    volume = shape ** 1.5
    return shape / np.sqrt(np.mean(shape ** 2)), volume / volume.mean()


def _draws(key: tuple[int, int], day: int, out: np.ndarray) -> tuple[float, int, int]:
    """Fill ``out`` (7 x 1440) with the day's random numbers; return its outage draw
    ``(u, length, first minute)``. The order of draws is fixed, whatever the caller keeps."""
    rng = np.random.default_rng(np.random.SeedSequence([*key, _STREAM_DAY, day]))
    u = rng.random()
    length = int(rng.integers(1, _MAX_OUTAGE_MINUTES + 1))
    first = int(rng.integers(0, MINUTES_PER_DAY - length + 1))
    out[0] = rng.standard_t(4.0, MINUTES_PER_DAY) / np.sqrt(2.0)
    out[1:6] = rng.standard_normal((5, MINUTES_PER_DAY))
    out[6] = rng.random(MINUTES_PER_DAY)
    return u, length, first


def _days(key: tuple[int, int], profile: _Profile, days: np.ndarray,
          gap_probability: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Candle columns (each ``len(days) x 1440``) of whole days, and which minutes are present."""
    draws, present = _draws_of_days(key, days, gap_probability)
    anchors, log_vols = _chain(key, profile, int(days[-1]))
    shock, vol_noise, jump_size, high_z, low_z, volume_z, jump_u = draws.transpose(1, 0, 2)
    vol_shape, volume_shape = _hour_profiles()
    sigma = (np.exp(log_vols[days])[:, None] / np.sqrt(MINUTES_PER_DAY) * vol_shape
             * _clustering(vol_noise))
    # Jumps of ~8 sigma on 1 minute in 150 that decay with a half-life of ~17 minutes.
    excursion = _ar1(np.where(jump_u < 1 / 150, 8.0 * sigma * jump_size, 0.0), 0.96)
    closes = _bridge(np.cumsum(shock * sigma, axis=1) + excursion,
                     anchors[days], anchors[days + 1])
    opens = np.concatenate((np.exp(anchors[days])[:, None], closes[:, :-1]), axis=1)
    activity = volume_shape * np.exp(log_vols[days] - profile.log_daily_vol)[:, None]
    moves = np.abs(np.log(closes / opens)) / sigma
    volume = profile.base_per_minute * activity * (0.4 + 0.6 * moves) * np.exp(0.4 * volume_z - 0.08)
    return _candles(profile, opens, closes, sigma * 0.6, (high_z, low_z), volume), present


def _draws_of_days(key: tuple[int, int], days: np.ndarray,
                   gap_probability: float) -> tuple[np.ndarray, np.ndarray]:
    """The random numbers of each day (``len(days) x 7 x 1440``) and the minutes its outage, if
    any, leaves present (``len(days) x 1440`` booleans)."""
    draws = np.empty((len(days), 7, MINUTES_PER_DAY))
    present = np.ones((len(days), MINUTES_PER_DAY), dtype=bool)
    for i, day in enumerate(days.tolist()):
        u, length, first = _draws(key, day, draws[i])
        if u < gap_probability:
            present[i, first:first + length] = False
    return draws, present


def _clustering(noise: np.ndarray, persistence: float = 0.99, spread: float = 0.6) -> np.ndarray:
    """Volatility multipliers ``exp(h - spread**2)`` of mean square 1, where ``h`` is a stationary
    AR(1) (std ``spread``, half-life ≈ 69 min for 0.99) started afresh each day from ``noise``."""
    scale = np.full(noise.shape[1], spread * np.sqrt(1.0 - persistence ** 2))
    scale[0] = spread
    return np.exp(_ar1(noise * scale, persistence) - spread ** 2)


def _bridge(path: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Closes of each day: ``path`` (cumulative log-returns) shifted to begin at ``start`` and
    linearly corrected to end exactly at ``end`` (log-prices), then exponentiated."""
    ramp = np.arange(1, MINUTES_PER_DAY + 1) / MINUTES_PER_DAY
    log_close = start[:, None] + path - ramp * (path[:, -1:] - (end - start)[:, None])
    log_close[:, -1] = end
    return np.exp(log_close)


def _candles(profile: _Profile, opens: np.ndarray, closes: np.ndarray, wick: np.ndarray,
             wick_z: tuple[np.ndarray, np.ndarray], volume: np.ndarray) -> dict[str, np.ndarray]:
    """OHLC with wicks of ``wick * |z|`` in log terms, and the amounts on the profile's grids."""
    high = np.maximum(opens, closes) * np.exp(wick * np.abs(wick_z[0]))
    low = np.minimum(opens, closes) * np.exp(-wick * np.abs(wick_z[1]))
    volume = _on_grid(volume, profile.base_grid)
    quote = _on_grid(volume * (high + low + closes) / 3.0, profile.quote_grid)
    share = 0.5 + 0.15 * np.tanh(np.log(closes / opens) / wick)
    return {"open": opens, "high": high, "low": low, "close": closes,
            "volume": volume, "quote_volume": quote,
            "trades": np.rint(volume * profile.trades_per_base).astype(np.int64),
            "taker_buy_base": _on_grid(share * volume, profile.base_grid),
            "taker_buy_quote": _on_grid(share * quote, profile.quote_grid)}


def _on_grid(values: np.ndarray, grid: float) -> np.ndarray:
    """``values`` rounded down to multiples of ``grid`` (a power of two: exact scaling)."""
    return np.floor(values / grid) * grid
