"""A run's price with its trades, as a PNG: what the strategy saw and what it did.

One panel, 1280 × 720 px at the default dpi: the bars as candles — or as the close line when
there are more than :data:`CANDLE_LIMIT` bars, where a candle would be under two pixels wide and
unreadable —, the Bollinger bands the run traded on (upper and lower, the middle dashed), each
entry marked by side (▲ long, ▼ short, at the entry fill), each exit by its reason (a marker and
colour per reason, :data:`EXIT_STYLES`, at the exit fill), and the stop path (the level each bar's
intrabar check tests, :attr:`threadx_core.engine.Result.stop`) drawn as steps over the bars it
holds. Dates on the x axis use matplotlib's automatic locator and concise formatter, so labels
never collide whatever the span. A trade carried in from an earlier window has its exit marked
here and its entry where that window's chart shows it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from threadx_core.engine import Result
from threadx_core.present.plots import figure_png

#: Above this many bars the close line replaces the candles (at 1280 px a candle would be < 2 px).
CANDLE_LIMIT = 600
#: Figure size in inches: 1280 × 720 px at :data:`DPI`.
FIGSIZE, DPI = (12.8, 7.2), 100
#: Entry markers by side: (marker, colour).
ENTRY_STYLES: dict[str, tuple[str, str]] = {"long": ("^", "tab:blue"), "short": ("v", "tab:pink")}
#: Exit markers by reason (the engine's exit reasons): (marker, colour).
EXIT_STYLES: dict[str, tuple[str, str]] = {"take_profit": ("o", "tab:green"), "stop": ("X", "tab:red"),
                                           "max_hold": ("s", "tab:orange"), "end": ("D", "tab:gray")}


def price_figure(ohlcv: pd.DataFrame, result: Result, title: str) -> plt.Figure:
    """The chart of ``result`` (a backtest of ``ohlcv``: the same bars, in order) as a laid-out
    figure, the caller's to save or close. Every marker set has a ``gid``: ``entry:<side>``,
    ``exit:<reason>`` (one point per trade), and the stop path ``stop``."""
    times = result.equity.index
    if len(ohlcv) != len(times):
        raise ValueError(f"{title}: {len(ohlcv)} bars but the backtest has {len(times)}")
    x = times.tz_convert(None).to_numpy()  # naive UTC: matplotlib's date axis, labelled UTC
    fig, ax = plt.subplots(figsize=FIGSIZE)
    _bars(ax, ohlcv, x, result.bar_minutes)
    bands = result.bands
    ax.plot(x, bands["upper"].to_numpy(), color="tab:purple", linewidth=0.8, label="upper / lower band")
    ax.plot(x, bands["lower"].to_numpy(), color="tab:purple", linewidth=0.8)
    ax.plot(x, bands["middle"].to_numpy(), color="tab:purple", linewidth=0.8, linestyle="--",
            label="middle band")
    ax.plot(x, result.stop.to_numpy(), color="tab:red", linewidth=1.0, drawstyle="steps-post",
            alpha=0.8, label="stop", gid="stop")
    trades = result.trades
    for side, (marker, colour) in ENTRY_STYLES.items():
        entered = trades[(trades["side"] == side) & (trades["entry_bar"] >= 0)]
        ax.scatter(x[entered["entry_bar"].to_numpy()], entered["entry_price"], marker=marker, s=60,
                   color=colour, edgecolors="black", linewidths=0.5, zorder=5,
                   label=f"entry {side} ({len(entered)})", gid=f"entry:{side}")
    for reason, (marker, colour) in EXIT_STYLES.items():
        exited = trades[trades["exit_reason"] == reason]
        ax.scatter(x[exited["exit_bar"].to_numpy()], exited["exit_price"], marker=marker, s=45,
                   color=colour, edgecolors="black", linewidths=0.5, zorder=6,
                   label=f"exit {reason.replace('_', ' ')} ({len(exited)})", gid=f"exit:{reason}")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("UTC")
    ax.set_ylabel("price")
    ax.set_title(f"{title}: {len(trades)} trades", fontsize=12)
    ax.grid(alpha=0.25)
    ax.legend(fontsize=9, loc="upper left", ncol=4, framealpha=0.85)
    fig.tight_layout()
    return fig


def price_png(ohlcv: pd.DataFrame, result: Result, title: str, *, dpi: int = DPI) -> bytes:
    """:func:`price_figure` as PNG bytes (1280 × 720 px at the default ``dpi``; tens of KB)."""
    return figure_png(price_figure(ohlcv, result, title), dpi)


def _bars(ax: plt.Axes, ohlcv: pd.DataFrame, x: np.ndarray, bar_minutes: float) -> None:
    """Candles (wick and body, green up, red down) up to :data:`CANDLE_LIMIT` bars, else the close."""
    close = ohlcv["close"].to_numpy(dtype=float)
    if len(close) > CANDLE_LIMIT:
        ax.plot(x, close, color="black", linewidth=0.7, label="close")
        return
    open_ = ohlcv["open"].to_numpy(dtype=float)
    colours = np.where(close >= open_, "tab:green", "tab:red")
    ax.vlines(x, ohlcv["low"].to_numpy(dtype=float), ohlcv["high"].to_numpy(dtype=float),
              colors=colours, linewidth=0.6)
    width = pd.Timedelta(minutes=bar_minutes * 0.7)  # 70 % of a bar: gaps keep candles apart
    ax.bar(x, np.abs(close - open_), bottom=np.minimum(open_, close), width=width, color=colours,
           align="center", label="candles")
