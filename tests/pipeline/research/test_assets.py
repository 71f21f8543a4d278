"""Indicator caches and featured backtests materialised through Dagster across a month boundary."""

import base64
import json
import re

import numpy as np
import pandas as pd

from tests.pipeline.kit import materialization, run
from threadx_core import indicators, storage
from threadx_core.engine import carry
from threadx_core.indicators.cache import atr_column, bb_columns
from threadx_core.research.featured import END_STATES
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

    report = materialization(february, "backtest_report")
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", report["chart"]).group(1))
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
    assert "| run | n_trades |" in report["metrics"]
    equity = storage.read_partition(storage.partition_path(root, "backtest_report", "BTCUSDT", "2024-02"))
    # February continues January's runs: the cash while flat is the initial capital plus every
    # trade's pnl since January; the last equity adds the open position marked to market
    trades = pd.concat([storage.read_partition(storage.partition_path(root, "backtest_trades", "BTCUSDT", m))
                        for m in ("2024-01", "2024-02")], ignore_index=True)
    ends = json.loads(equity.attrs[END_STATES])
    initial = load(project).params().initial_capital
    for run_label, curve in equity.groupby("run"):
        end = dict(zip(carry.COLUMNS, ends[run_label], strict=True))
        pnl = trades.loc[trades["run"] == run_label, "pnl"].sum()
        assert np.isclose(end["flat_cash"], initial + pnl, rtol=1e-12, atol=0)
        last_close = bars["close"].iloc[-1]
        assert np.isclose(curve["equity"].iloc[-1], end["cash"] + end["side"] * end["qty"] * last_close,
                          rtol=1e-12, atol=0)
        assert curve["open_time"].iloc[0] == pd.Timestamp("2024-02-01", tz="UTC")


def test_sweep_and_best_by_run_agree_with_the_reference_engine(project, instance):
    now = "2024-03-05T00:00:00Z"
    assert run(project, instance, "ETHUSDT", "2024-01", now=now).success
    result = run(project, instance, "ETHUSDT", "2024-02", now=now)
    assert result.success
    root = project.parent / "wh"
    sweep = storage.read_partition(storage.partition_path(root, "sweep_1h", "ETHUSDT", "2024-02"))
    meta = materialization(result, "sweep_1h")
    assert meta["combinations"] == len(sweep) == 1760 and meta["device"] == "cpu"

    growth = np.array([np.prod(1.0 + np.asarray(r)) - 1.0 for r in sweep["daily_returns"]])
    np.testing.assert_allclose(growth, sweep["total_return"].to_numpy(), rtol=1e-9, atol=1e-12)

    report = storage.read_partition(storage.partition_path(root, "backtest_report", "ETHUSDT", "2024-02"))
    featured = load(project).featured()[0]
    row = sweep[(sweep["bb_period"] == featured.bb_period) & (sweep["bb_std"] == featured.bb_std)
                & (sweep["atr_period"] == featured.atr_period) & (sweep["atr_mult"] == featured.atr_mult)]
    assert row["final_equity"].iloc[0] == report["equity"].iloc[-1]

    best = storage.read_partition(storage.partition_path(root, "best_by_run", "ETHUSDT", "2024-02"))
    chosen = load(project).selection
    eligible = sweep[sweep["n_trades"] >= chosen.min_trades]
    assert len(best) == min(chosen.top_k, len(eligible))
    assert list(best["rank"]) == list(range(1, len(best) + 1))
    assert best[chosen.objective].iloc[0] == eligible[chosen.objective].max()
    assert best["run_id"].nunique() == 1
    best_meta = materialization(result, "best_by_run")
    assert best_meta["run_id"] == best["run_id"].iloc[0]
    folder = root / "reports" / "ETHUSDT" / "2024-02"
    for chart in ("pareto_chart", "heatmap", "distribution"):
        assert best_meta[chart].startswith(f"![{chart}](data:image/png;base64,")
        assert (folder / f"best_by_run_{chart}.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "best_by_run.csv").read_text().splitlines()[0].startswith("timeframe,")
