"""Charts as small PNGs (matplotlib, Agg backend): bytes a UI or a report can embed."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def equity_drawdown_png(curves: dict[str, pd.Series], title: str, *, dpi: int = 80) -> bytes:
    """Equity curves (top) and their drawdowns E/cummax(E) − 1 in percent (bottom), one line per
    label, as PNG bytes (kept small: metadata lives in Dagster's event log)."""
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
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
