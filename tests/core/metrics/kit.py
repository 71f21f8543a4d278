"""Test kit of the metrics tests: equity curves and trade frames as the engine returns them."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Bars per year of 1-minute bars.
P_1M = 525_600.0


def trades_frame(pnl: list[float], fees: list[float] | None = None,
                 bars: list[tuple[int, int]] | None = None) -> pd.DataFrame:
    """A trade log with the columns :func:`metrics.summarize` reads (qty 2, entry 100, exit 110)."""
    n = len(pnl)
    bars = bars or [(i, i + 1) for i in range(n)]
    return pd.DataFrame({
        "pnl": pnl, "fees": fees or [1.0] * n, "qty": [2.0] * n,
        "entry_price": [100.0] * n, "exit_price": [110.0] * n,
        "entry_bar": [b[0] for b in bars], "exit_bar": [b[1] for b in bars],
    })


def random_curve(n: int = 5_000, seed: int = 0) -> np.ndarray:
    """A random-walk equity curve from 10 000."""
    rng = np.random.default_rng(seed)
    return 10_000 * np.cumprod(1 + rng.normal(1e-5, 1e-3, n))
