"""Charts as small PNGs (matplotlib, Agg backend): bytes a UI or a report can embed."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def equity_drawdown_png(curves: dict[str, pd.Series], title: str, *, dpi: int = 80) -> bytes:
    """Equity curves (top) and their drawdowns E/cummax(E) − 1 in percent (bottom), one line per
    label, as PNG bytes of 640 × 360 at the default ``dpi`` (kept small: metadata lives in
    Dagster's event log); :func:`equity_drawdown_figure` draws it."""
    return figure_png(equity_drawdown_figure(curves, title), dpi)


def equity_drawdown_figure(curves: dict[str, pd.Series], title: str) -> plt.Figure:
    """The figure of :func:`equity_drawdown_png` (8 × 4.5 in), for callers that render it
    themselves. Its date axis labels never collide, whether the curves span a day or years: an
    ``AutoDateLocator`` picks few enough ticks and a ``ConciseDateFormatter`` writes each label
    short and level (``Jan 08``, ``12:00``), with the year or month once, as the axis offset."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    for label, equity in curves.items():
        top.plot(equity.index, equity.to_numpy(), linewidth=1, label=label)
        drawdown = (equity / equity.cummax() - 1.0) * 100.0
        bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, alpha=0.35, step="post")
    top.set_title(title, fontsize=10)
    top.set_ylabel("equity")
    top.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)  # the shared x axis of both panels
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return fig


def pareto_png(results: pd.DataFrame, front: pd.DataFrame, title: str, *, dpi: int = 80) -> bytes:
    """Every sweep row as a point of (max drawdown %, total return %), the Pareto front as a line:
    the trade-off between return and drawdown at a glance."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(results["max_drawdown"] * 100, results["total_return"] * 100, s=6, alpha=0.35,
               label=f"{len(results)} combinations")
    ax.plot(front["max_drawdown"] * 100, front["total_return"] * 100, "o-", color="tab:red",
            markersize=4, linewidth=1.2, label=f"Pareto front ({len(front)})")
    ax.set_xlabel("max drawdown %")
    ax.set_ylabel("total return %")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return figure_png(fig, dpi)


def figure_png(fig: plt.Figure, dpi: int) -> bytes:
    """``fig`` laid out tightly and saved as PNG bytes at ``dpi``; the figure is closed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def heatmap_png(results: pd.DataFrame, objective: str, title: str, *, x: str = "bb_period",
                y: str = "bb_std", dpi: int = 80) -> bytes:
    """The ``objective`` over ``x`` × ``y``, each cell the best value over every other parameter
    (NaN cells — no eligible combination — left blank)."""
    table = results.groupby([y, x])[objective].max().unstack(x).sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="RdYlGn")
    ax.set_xticks(range(len(table.columns)), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(len(table.index)), [f"{v:g}" for v in table.index], fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=f"best {objective}")
    return figure_png(fig, dpi)


def distribution_png(values: pd.Series, selected: float, objective: str, title: str, *,
                     dpi: int = 80) -> bytes:
    """Histogram of the ``objective`` across the grid, with the selection's value marked: how
    exceptional the chosen combination is."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    finite = values[np.isfinite(values)]
    ax.hist(finite, bins=40, alpha=0.7)
    ax.axvline(selected, color="tab:red", linewidth=1.5, label=f"selection: {selected:.3g}")
    ax.set_xlabel(objective)
    ax.set_ylabel("combinations")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return figure_png(fig, dpi)


def stability_png(steps: pd.DataFrame, title: str, *, dpi: int = 80,
                  params: tuple[str, ...] = ("bb_period", "bb_std", "atr_period", "atr_mult")) -> bytes:
    """The parameters chosen at each walk-forward step (one panel each, out-of-sample month on
    the x axis): stable choices suggest a real effect, jumping ones suggest noise."""
    fig, axes = plt.subplots(len(params), 1, figsize=(7, 1.3 * len(params) + 0.8), sharex=True)
    chosen = steps[steps["combo"] >= 0]
    for ax, name in zip(np.atleast_1d(axes), params, strict=True):
        ax.plot(chosen["out_of_sample"], chosen[name], "o-", markersize=4)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_title(title, fontsize=10)
    fig.autofmt_xdate()
    return figure_png(fig, dpi)


def objective_pngs(eligible: pd.DataFrame, selected: float, objective: str, title: str) -> dict[str, bytes]:
    """The two charts of a ranking's ``objective`` over its ``eligible`` rows: ``heatmap`` (by
    Bollinger settings) and ``distribution`` (across the grid, ``selected`` marked)."""
    return {"heatmap": heatmap_png(eligible, objective, f"{title}: by Bollinger settings"),
            "distribution": distribution_png(eligible[objective], selected, objective,
                                             f"{title}: across the grid")}


def universe_mix_png(counts: dict[str, int], minimums: dict[str, int], other: int, title: str, *,
                     dpi: int = 70) -> bytes:
    """The universe's mix: members per category (bars; a member may count in several), each
    category's minimum (ticks) and the uncategorised members (``other``)."""
    labels = [*counts, "other"]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    values = [*counts.values(), other]
    ax.bar(labels, values, color=["tab:blue"] * len(counts) + ["tab:gray"])
    ax.scatter(list(minimums), list(minimums.values()), marker="_", s=300, color="tab:red", label="minimum")
    ax.set_ylabel("members")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelrotation=35, labelsize=7)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return figure_png(fig, dpi)


def leaderboard_png(frame: pd.DataFrame, title: str, *, dpi: int = 80) -> bytes:
    """The leaderboard (``threadx_core.research.leaderboard``, rows in rank order) as horizontal
    bars: the out-of-sample Sharpe of each symbol × timeframe, best rank on top, coloured by its
    deflated Sharpe (0 red … 1 green, grey when not computable); a row without a report keeps its
    line, with its reason instead of a bar, so none is silently missing."""
    labels = [f"{s} {tf}" for s, tf in zip(frame["symbol"], frame["timeframe"], strict=True)]
    sharpe = frame["oos_sharpe"].to_numpy(np.float64)
    dsr = frame["deflated_sharpe"].to_numpy(np.float64)
    cmap = plt.get_cmap("RdYlGn")
    colours = [cmap(d) if np.isfinite(d) else "lightgray" for d in dsr]
    fig, ax = plt.subplots(figsize=(8, 2.0 + 0.34 * max(len(frame), 1)))
    positions = np.arange(len(frame))[::-1]
    ax.barh(positions, np.nan_to_num(sharpe), color=colours, edgecolor="black", linewidth=0.4)
    for y, reason in zip(positions, frame["reason"], strict=True):
        if reason:  # cut to the bar's width, the full reason is in the table and the CSV
            shown = reason if len(reason) <= 90 else reason[:89] + "…"
            ax.text(0.01, y, f"no report: {shown}", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=7, color="dimgray")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_ylim(-0.6, len(frame) - 0.4)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("out-of-sample Sharpe (daily, √365)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.colorbar(plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0.0, 1.0), cmap=cmap), ax=ax,
                 label="deflated Sharpe")
    return figure_png(fig, dpi)
