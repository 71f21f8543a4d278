"""The notebook API (docs/ARCHITECTURE.md, The Python API), used exactly as documented."""

import numpy as np

from threadx_core import data, engine, indicators, metrics, sweep


def test_documented_calls_work_together_and_agree():
    raw = data.synthetic("BTCUSDT", "2024-01-01", "2024-01-15", seed=3)
    bars = data.resample(raw, "1h")
    middle, upper, lower = indicators.bollinger(bars["close"].to_numpy(), 20, 2.0)
    assert np.allclose(upper - middle, middle - lower, equal_nan=True)
    atr = indicators.atr(bars["high"], bars["low"], bars["close"], 14, method="wilder")
    assert np.isnan(atr[:13]).all() and (atr[13:] > 0).all()

    params = engine.Params(bb_period=20, bb_std=2.0)
    result = engine.backtest(bars, params)
    assert set(result.metrics) >= {"total_return", "cagr", "volatility", "sharpe", "sortino", "calmar",
                                   "max_drawdown", "max_drawdown_duration", "n_trades", "win_rate",
                                   "profit_factor", "expectancy", "avg_win", "avg_loss", "largest_win",
                                   "largest_loss", "exposure", "fees_paid", "turnover", "final_equity"}
    summary = metrics.summarize(result.equity, result.trades, 60)
    assert summary["final_equity"] == result.metrics["final_equity"]
    assert np.isclose(result.equity.iloc[-1], params.initial_capital + result.trades["pnl"].sum(), rtol=1e-12)

    grid = sweep.Grid({"bb_period": [20, 30], "bb_std": [2.0], "atr_period": [14], "atr_mult": [1.5]})
    table = sweep.run(bars, grid, device="cpu")
    assert len(table) == 2
    row = table[table["bb_period"] == 20].iloc[0]
    assert row["n_trades"] == result.metrics["n_trades"] and row["sharpe"] == result.metrics["sharpe"]
