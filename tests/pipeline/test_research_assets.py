"""Indicator caches and featured backtests materialised through Dagster across a month boundary."""

import base64
import re

import numpy as np
import pandas as pd

from tests.pipeline.test_market_data_assets import materialization, run
from threadx_core import indicators, storage
from threadx_core.indicator_cache import atr_column, bb_columns
from threadx_core.settings import load


def test_indicator_cache_equals_whole_series_across_months_and_report_reconciles(project, instance):
    now = "2024-03-05T00:00:00Z"
    january = run(project, instance, "BTCUSDT", "2024-01", now=now)
    february = run(project, instance, "BTCUSDT", "2024-02", now=now)
    assert january.success and february.success
    assert materialization(january, "indicators_1h")["history"] == "none"
    meta = materialization(february, "indicators_1h")
    assert meta["history"] == "previous month" and meta["atr_exact"] is True and meta["warmup_bars"] == 29

    root = project.parent / "wh"
    bars = pd.concat([storage.read_partition(storage.partition_path(root, "ohlcv_1h", "BTCUSDT", m))
                      for m in ("2024-01", "2024-02")], ignore_index=True)
    cache = storage.read_partition(storage.partition_path(root, "indicators_1h", "BTCUSDT", "2024-02"))
    feb = slice(len(bars) - len(cache), None)
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    middle, sigma = indicators.rolling_mean_std(close, 30)
    np.testing.assert_array_equal(cache[bb_columns(30)[0]].to_numpy(), middle[feb])
    np.testing.assert_array_equal(cache[bb_columns(30)[1]].to_numpy(), sigma[feb])
    np.testing.assert_array_equal(cache[atr_column(30, "wilder")].to_numpy(),
                                  indicators.atr(high, low, close, 30, "wilder")[feb])

    report = materialization(february, "backtest_report", node="backtest_report")
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", report["chart"]).group(1))
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
    assert "| run | n_trades |" in report["metrics"]
    equity = storage.read_partition(storage.partition_path(root, "backtest_report", "BTCUSDT", "2024-02"))
    trades = storage.read_partition(storage.partition_path(root, "backtest_trades", "BTCUSDT", "2024-02"))
    initial = load(project).params().initial_capital
    for run_label, curve in equity.groupby("run"):
        pnl = trades.loc[trades["run"] == run_label, "pnl"].sum()
        assert np.isclose(curve["equity"].iloc[-1], initial + pnl, rtol=1e-12, atol=0)
        assert curve["open_time"].iloc[0] == pd.Timestamp("2024-02-01", tz="UTC")
