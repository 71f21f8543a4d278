"""The result table the commands end with, from stored report frames (threadx_core.present.summary)."""

from __future__ import annotations

import re

import pandas as pd

from threadx_core import storage
from threadx_core.present import summary

COMBO = {"timeframe": "1h", "bb_std": 2.0, "atr_period": 14, "atr_mult": 1.5}


def full_period(root, symbol: str) -> None:
    """Two combinations over 2024-01..2024-04: bb10 the better Sharpe but 3 trades, bb20 12 trades."""
    frame = pd.DataFrame([
        {**COMBO, "bb_period": 10, "total_return": 0.2, "sharpe": 3.0, "max_drawdown": -0.05, "n_trades": 3,
         "profit_factor": 2.0},
        {**COMBO, "bb_period": 20, "total_return": 0.1, "sharpe": 1.0, "max_drawdown": -0.1, "n_trades": 12,
         "profit_factor": 1.5},
    ]).assign(first="2024-01", last="2024-04")
    storage.write_partition(frame, storage.symbol_path(root, "full_period", symbol))


def test_without_a_walk_forward_the_full_period_best_is_shown_with_its_metrics_and_a_caution(tmp_path):
    full_period(tmp_path, "BTCUSDT")
    table = summary.collect(tmp_path, ["BTCUSDT"], ["1h"], objective="sharpe", min_trades=10)
    row = table.iloc[0]
    # bb10 has the better Sharpe but fewer than min_trades trades: the ranking leaves it out
    assert row["selection"] == "bb20×2 atr14×1.5" and row["from"] == "full period 2024-01..2024-04"
    assert (row["return"], row["sharpe"], row["trades"], row["oos_months"]) == (0.1, 1.0, 12, 0)
    assert row["caution"] == "only 0 OOS month(s) (< 3)"
    text = summary.render(table)
    # returns in %, Sharpe to 2 decimals, "-" for the out-of-sample figures nothing backs
    assert re.search(r"10\.00%\s+1\.00\s+-10\.00%\s+12\s+-\s+-\s+0\s+only 0", text), text


def test_a_walk_forward_in_cash_and_a_symbol_with_nothing_stored(tmp_path):
    full_period(tmp_path, "BTCUSDT")
    steps = pd.DataFrame([
        {**COMBO, "bb_period": 10, "combo": 0, "out_of_sample": m, "out_of_sample_return": 0.01}
        for m in ("2024-02", "2024-03", "2024-04")]).assign(combo=[0, 1, -1])
    storage.write_partition(steps, storage.symbol_path(tmp_path, "walk_forward", "BTCUSDT"))
    table = summary.collect(tmp_path, ["BTCUSDT", "ETHUSDT"], ["1h"], objective="sharpe", min_trades=0)
    btc, eth = table.to_dict("records")
    assert btc["selection"] == "cash" and btc["from"] == "walk-forward 2024-04"
    assert btc["oos_months"] == 3 and btc["caution"] == ""  # 3 out-of-sample months: no caution
    assert abs(btc["oos_return"] - (1.01 ** 3 - 1)) < 1e-12
    assert eth["selection"] == "-" and eth["caution"] == "nothing stored yet"
