"""Single-run reference backtest (docs/ARCHITECTURE.md, Strategy): frame in, :class:`Result` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from threadx_core import indicators, metrics
from threadx_core.engine import carry
from threadx_core.engine import nb as nb
from threadx_core.engine.frames import bar_times, prices, resolve_bar_minutes
from threadx_core.engine.params import Params
from threadx_core.engine.stops import stop_path_nb

TRADE_COLUMNS: tuple[str, ...] = (
    "side", "entry_time", "exit_time", "entry_price", "exit_price", "qty", "fees", "pnl",
    "return", "exit_reason", "entry_bar", "exit_bar",
)

SIDES: tuple[str, ...] = ("long", "short")
#: Exit reasons in code order (code − 1), the categories of ``trades.exit_reason``.
EXIT_REASONS: tuple[str, ...] = tuple(nb.EXIT_REASONS[code] for code in sorted(nb.EXIT_REASONS))


class Simulation(NamedTuple):
    """Raw output of the compiled loop: per-bar ``equity``, ``position`` (signed qty) and
    ``cash`` after each bar's close, the trade ``log`` (rows of ``nb.LOG_COLUMNS``), the
    carried ``state`` at the end (a row of ``nb.CARRY_COLUMNS``, entry time not filled) and the
    per-bar ``stop`` the bar's intrabar check tests, NaN when flat (:mod:`threadx_core.engine.stops`)."""

    equity: np.ndarray
    position: np.ndarray
    cash: np.ndarray
    log: np.ndarray
    state: np.ndarray
    stop: np.ndarray


@dataclass(frozen=True)
class Result:
    """One backtest: ``trades`` (one row per closed trade, :data:`TRADE_COLUMNS`; times are the
    labels of the fill bars), ``equity``/``position``/``cash`` (Series on the bar times, after
    each bar's close), ``metrics`` (:func:`metrics.summarize` of this window's equity, read from
    the equity a ``start`` left it at, and trades), ``params``, ``bar_minutes``, ``end_state``
    (the carried state at the end, a row of :func:`carry.to_frame`: where the next window starts
    to continue this run), ``stop`` (Series on the bar times: the stop level each bar's intrabar
    check tests, NaN when no position is held through it) and ``bands`` (the
    ``middle``/``upper``/``lower`` Bollinger bands the run traded on, on the bar times)."""

    trades: pd.DataFrame
    equity: pd.Series
    position: pd.Series
    cash: pd.Series
    metrics: dict[str, Any]
    params: Params
    bar_minutes: float
    end_state: pd.Series
    stop: pd.Series
    bands: pd.DataFrame


def loop_params(params: Params) -> nb.LoopParams:
    """The compiled loop's scalars for ``params``."""
    return nb.loop_params(params.atr_mult, params.trailing, params.take_profit == "mid",
                          params.max_hold_bars, params.allow_short, params.risk_per_trade,
                          params.leverage, params.fee_bps, params.slippage_bps,
                          params.fill == "close", params.initial_capital)


def simulate(open_: object, high: object, low: object, close: object, middle: object,
             upper: object, lower: object, atr: object, params: Params, *,
             start: np.ndarray | None = None, close_at_end: bool = True,
             elapsed_minutes: float = 0.0) -> Simulation:
    """Run the compiled loop on aligned arrays with the indicators given (not computed): the
    entry point for hand-made scenarios and for checking a sweep kernel bar by bar.

    ``start``: a carried state row (``nb.CARRY_COLUMNS``) to continue from, None to start flat
    with the initial capital; ``close_at_end``: the evaluated window ends at the last bar (an
    open position closes there, exit "end"); False carries it in ``Simulation.state``.
    ``elapsed_minutes``: the window's calendar span, added to the state's minutes.
    """
    arrays = [np.ascontiguousarray(np.asarray(a, dtype=np.float64))
              for a in (open_, high, low, close, middle, upper, lower, atr)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        raise ValueError("simulate needs eight non-empty 1-D arrays of one length")
    first = carry.fresh([params.initial_capital])[0] if start is None else np.ascontiguousarray(
        np.asarray(start, dtype=np.float64))
    if first.shape != (len(nb.CARRY_COLUMNS),):
        raise ValueError(f"start must be one carried state row of {len(nb.CARRY_COLUMNS)} values")
    end = np.empty(len(nb.CARRY_COLUMNS))
    loop = loop_params(params)
    outputs = nb.run_nb(*arrays, loop, first, bool(close_at_end), float(elapsed_minutes), end)
    return Simulation(*outputs, end, stop_path_nb(*arrays, loop, first))


def indicator_arrays(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                     params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(middle, upper, lower, atr)`` as the strategy uses them."""
    middle, upper, lower = indicators.bollinger(close, params.bb_period, params.bb_std)
    return middle, upper, lower, indicators.atr(high, low, close, params.atr_period,
                                                params.atr_method)


def trades_frame(log: np.ndarray, times: pd.DatetimeIndex,
                 carried_entry_ms: float = -1.0) -> pd.DataFrame:
    """The trade log as a typed frame (:data:`TRADE_COLUMNS`; ``side`` and ``exit_reason`` are
    categoricals of :data:`SIDES` and :data:`EXIT_REASONS`), empty but typed without trades.
    A trade carried into the window (negative entry bar, relative to it) has the entry time
    ``carried_entry_ms`` (epoch ms) of the state it was carried in."""
    columns = dict(zip(nb.LOG_COLUMNS, log.T, strict=True))
    entry_bar = columns["entry_bar"].astype(np.int64)
    exit_bar = columns["exit_bar"].astype(np.int64)
    qty, entry_price = columns["qty"], columns["entry_price"]
    entry_time = times[np.maximum(entry_bar, 0)]
    if (entry_bar < 0).any():
        if carried_entry_ms < 0:
            raise ValueError("carried state: entry_time is -1 for the position it carries in")
        carried = pd.Timestamp(int(carried_entry_ms), unit="ms", tz="UTC")
        entry_time = entry_time.where(entry_bar >= 0, carried)
    return pd.DataFrame({
        "side": pd.Categorical.from_codes((columns["side"] < 0).astype(np.int8), SIDES),
        "entry_time": entry_time,
        "exit_time": times[exit_bar],
        "entry_price": entry_price,
        "exit_price": columns["exit_price"],
        "qty": qty,
        "fees": columns["fees"],
        "pnl": columns["pnl"],
        "return": columns["pnl"] / (qty * entry_price),
        "exit_reason": pd.Categorical.from_codes(columns["reason"].astype(np.int8) - 1,
                                                 EXIT_REASONS),
        "entry_bar": entry_bar,
        "exit_bar": exit_bar,
    }, columns=list(TRADE_COLUMNS))


def _start_equity(first: np.ndarray | None) -> float | None:
    """The equity a window continuing a run starts from (its start row's last equity sample), or
    ``None`` for a run that starts here (no row, or a row that has seen no bar)."""
    if first is None or first[carry.COLUMNS.index("eq_bars")] == 0:
        return None
    return float(first[carry.COLUMNS.index("eq_last")])


def backtest(ohlcv: pd.DataFrame, params: Params | None = None, *,
             bar_minutes: float | None = None,
             precomputed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
             start: pd.Series | None = None, close_at_end: bool = True) -> Result:
    """Backtest ``params`` (the strategy's defaults when None) on one timeframe of candles.

    ``ohlcv``: open/high/low/close (finite and > 0) with a UTC DatetimeIndex or an ``open_time``
    column, one row per bar, strictly increasing times (:mod:`threadx_core.engine.frames`).
    ``bar_minutes``: bar size, inferred as the median spacing of the times when None.
    Indicators are computed on the frame itself (no warm-up: the first ``bb_period − 1`` bars
    cannot signal) unless ``precomputed`` gives ``(middle, sigma, atr)`` for ``params``' windows,
    aligned to the bars — e.g. from an indicator cache warmed up on earlier data; the bands are
    then ``middle ± bb_std·sigma``.
    ``start``: the ``end_state`` of the backtest of the bars just before (same params), to
    continue that run here — the trades and equity are then those of one run over both; the
    first bar's previous close and bands come from it. ``close_at_end``: this window ends the
    evaluated range (an open position closes at the last close, exit "end"); False carries the
    position and a pending order in ``end_state`` instead.
    """
    params = Params() if params is None else params
    if not isinstance(params, Params):
        raise TypeError(f"params must be a Params, got {type(params).__name__}")
    times = bar_times(ohlcv)
    open_, high, low, close = prices(ohlcv, times)
    if close.size == 0:
        raise ValueError("ohlcv holds no bar")
    minutes = resolve_bar_minutes(times, bar_minutes)
    if precomputed is None:
        arrays = indicator_arrays(high, low, close, params)
    else:
        middle, sigma, atr = (np.asarray(a, dtype=np.float64) for a in precomputed)
        arrays = (middle, *indicators.bands(middle, sigma, params.bb_std), atr)
    first = None if start is None else carry.to_rows(start.to_frame().T, 1)[0]
    elapsed = (times[-1] - times[0]).total_seconds() / 60.0 + minutes
    sim = simulate(open_, high, low, close, *arrays, params, start=first,
                   close_at_end=close_at_end, elapsed_minutes=elapsed)
    carried_ms = -1.0 if first is None else float(first[nb.ENTRY_TIME])
    trades = trades_frame(sim.log, times, carried_ms)
    end = sim.state[None, :].copy()
    carry.fill_entry_times(end, times)
    equity = pd.Series(sim.equity, index=times, name="equity")
    return Result(
        trades=trades,
        equity=equity,
        position=pd.Series(sim.position, index=times, name="position"),
        cash=pd.Series(sim.cash, index=times, name="cash"),
        metrics=metrics.summarize(equity, trades, minutes, _start_equity(first)),
        params=params,
        bar_minutes=minutes,
        end_state=carry.to_frame(end).iloc[0],
        stop=pd.Series(sim.stop, index=times, name="stop"),
        bands=pd.DataFrame(dict(zip(("middle", "upper", "lower"), arrays[:3], strict=True)), index=times),
    )
