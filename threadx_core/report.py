"""Featured backtests of one symbol-month: the reference engine on the cached indicators.

Each featured parameter set runs on each timeframe's bars of the month, with the indicators from
that month's cache (warmed up on the previous month), so the first bars of a month can trade.
The window is the month: a position still open at its end is closed at the last close.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from threadx_core.engine import Params, backtest
from threadx_core.indicator_cache import atr_column, bb_columns
from threadx_core.plots import equity_drawdown_png


@dataclass(frozen=True)
class FeaturedReport:
    """``equity`` (long: open_time, run, timeframe, equity, position, drawdown), ``trades`` (long,
    with run and timeframe), ``metrics`` (one row per run) and an equity + drawdown ``png``."""

    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: pd.DataFrame
    png: bytes


def run_label(params: Params, tf: str) -> str:
    """Short label of one run, e.g. ``1h bb20×2.0 atr14w×1.5``."""
    return (f"{tf} bb{params.bb_period}×{params.bb_std:g} "
            f"atr{params.atr_period}{params.atr_method[0]}×{params.atr_mult:g}")


def featured(bars: dict[str, pd.DataFrame], caches: dict[str, pd.DataFrame],
             featured_params: list[Params], title: str) -> FeaturedReport:
    """Backtest every ``featured_params`` set on every timeframe of ``bars`` (``{tf: ohlcv}``),
    using ``caches`` (``{tf: indicator cache}``, same rows)."""
    curves, equities, trades, rows = {}, [], [], []
    for tf, ohlcv in bars.items():
        cache = caches[tf]
        for params in featured_params:
            mid, sigma = bb_columns(params.bb_period)
            result = backtest(ohlcv, params, precomputed=(
                cache[mid].to_numpy(), cache[sigma].to_numpy(),
                cache[atr_column(params.atr_period, params.atr_method)].to_numpy()))
            label = run_label(params, tf)
            curves[label] = result.equity
            equities.append(pd.DataFrame({
                "open_time": result.equity.index, "run": label, "timeframe": tf,
                "equity": result.equity.to_numpy(), "position": result.position.to_numpy(),
                "drawdown": (result.equity / result.equity.cummax() - 1.0).to_numpy()}))
            trades.append(result.trades.assign(run=label, timeframe=tf))
            rows.append({"run": label, "timeframe": tf, **result.metrics})
    table = pd.DataFrame(rows)
    return FeaturedReport(pd.concat(equities, ignore_index=True), _trades(trades), table,
                          equity_drawdown_png(curves, title))


def _trades(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f.astype({"side": str, "exit_reason": str}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def markdown_table(table: pd.DataFrame, columns: tuple[str, ...] = (
        "run", "n_trades", "total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor",
        "fees_paid", "final_equity"), label: str = "run") -> str:
    """``columns`` of ``table`` as Markdown, floats to 4 significant digits (``label`` as is)."""
    shown = table[[c for c in columns if c in table]].copy()
    for column in shown.columns.drop(label):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    rows = ("| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False))
    return header + "\n".join(rows)

