"""Test kit of the research tests: fake sweep partitions with known trades, and monthly sets."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from threadx_core import metrics
from threadx_core.engine import Params

CAPITAL = 10_000.0


def partition_frame(month: str, trades: list[list[tuple[int, float]]], n_days: int = 6, *,
                    timeframe: str = "1h", bb_periods: list[int] | None = None) -> pd.DataFrame:
    """A consistent fake sweep partition of ``month``: combination i (bb_period 10 + i unless
    ``bb_periods``) closes the trades ``trades[i]`` = [(day, pnl), …]; its equity at the end of day
    k is CAPITAL + Σ pnl of trades closed on days ≤ k; fees 1 + 1 % of |pnl|, notional 100·|pnl|."""
    bb_periods = bb_periods or [10 + i for i in range(len(trades))]
    start = pd.Timestamp(f"{month}-01")
    days = [(start + pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days)]
    rows, returns = [], []
    for period, combo in zip(bb_periods, trades, strict=True):
        pnl = np.array([p for _, p in combo], dtype=np.float64)
        per_day = np.bincount([d for d, _ in combo], weights=pnl, minlength=n_days)
        equity = CAPITAL + np.concatenate([[0.0], np.cumsum(per_day)])
        returns.append(equity[1:] / equity[:-1] - 1.0)
        wins, losses = pnl[pnl > 0], pnl[pnl < 0]
        n = len(pnl)
        rows.append({**Params(bb_period=period).to_dict(), "total_return": equity[-1] / CAPITAL - 1,
                     "n_trades": n, "win_rate": len(wins) / n if n else np.nan,
                     "avg_win": wins.mean() if len(wins) else np.nan,
                     "avg_loss": losses.mean() if len(losses) else np.nan,
                     "largest_win": wins.max() if len(wins) else np.nan,
                     "largest_loss": losses.min() if len(losses) else np.nan,
                     "fees_paid": float(np.sum(1 + 0.01 * np.abs(pnl))),
                     "turnover": float(np.sum(100 * np.abs(pnl))) / CAPITAL,
                     "exposure": n / (n + 1), "final_equity": equity[-1],
                     "expectancy": pnl.mean() if n else np.nan,
                     "profit_factor": (wins.sum() / -losses.sum() if len(losses)
                                       else (math.inf if len(wins) else np.nan))})
    frame = pd.DataFrame(rows)
    for key in metrics.OUTPUT_KEYS:
        if key not in frame:
            frame[key] = 0.0
    frame.insert(0, "timeframe", timeframe)
    frame["daily_returns"] = returns
    frame.attrs = {"days": json.dumps(days), "run_id": "test", "devices": "cpu"}
    return frame


trade_lists = st.lists(st.lists(st.tuples(st.integers(0, 5), st.floats(-400, 400).map(lambda x: round(x, 2))),
                                max_size=6), min_size=1, max_size=4)


#: Monthly pnl (one trade on day 2, from 10 000) of combinations bb_period 10, 11, 12.
PNL = {"2024-01": (300.0, 100.0, -50.0), "2024-02": (-200.0, 150.0, 400.0),
       "2024-03": (50.0, 200.0, -300.0), "2024-04": (10.0, -10.0, 20.0)}


def monthly() -> dict[str, pd.DataFrame]:
    """Four months of three combinations, each trading once a month as :data:`PNL` says."""
    return {m: partition_frame(m, [[(2, p)] for p in pnl]) for m, pnl in PNL.items()}
