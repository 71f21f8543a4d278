"""``leaderboard`` materialised through Dagster over two symbols' stored reports (one with a
walk-forward, one with too few months), its CSV export and chart, and its automation condition."""

import base64
import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tests.pipeline.kit import materialization, materialize, write_project
from threadx_pipeline.definitions import SYMBOL_JOB, build_definitions
from threadx_pipeline.partitions import register_symbols

GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n"
EXTRA = GRID + "\n[walkforward]\nin_sample_months = 1\n\n[selection]\nmin_trades = 1\n"
NOW = "2024-03-05T00:00:00Z"
SWEPT = ("raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """BTCUSDT with two months and its reports, ETHUSDT with one month and its reports, then one
    automation tick's cursor: (settings path, instance, cursor before the leaderboard ran)."""
    path = write_project(tmp_path_factory.mktemp("leaderboard"), symbols=("BTCUSDT", "ETHUSDT"),
                         derive=("1h",), sweep=("1h",), extra=EXTRA)
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        for symbol, month in (("BTCUSDT", "2024-01"), ("BTCUSDT", "2024-02"), ("ETHUSDT", "2024-01")):
            # what the reports read, nothing more (the featured backtests would only cost time)
            assert materialize(path, instance, symbol, month, SWEPT, now=NOW).success
        defs = build_definitions(path)
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        reports = defs.resolve_job_def(SYMBOL_JOB)
        for symbol in ("BTCUSDT", "ETHUSDT"):
            assert reports.execute_in_process(partition_key=symbol, instance=instance).success
        yield path, instance, quiet.cursor


def leaderboard(path, instance):
    job = build_definitions(path).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("leaderboard")])
    assert result.success
    return result


def test_the_reports_request_the_leaderboard_once_and_its_run_satisfies_it(stored):
    path, instance, cursor = stored
    defs = build_definitions(path)
    # the months' runs before the reports requested the reports, not the leaderboard; the
    # reports' runs since then request it, once for both symbols
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert tick.get_num_requested(dg.AssetKey("leaderboard")) == 1
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert again.get_num_requested(dg.AssetKey("leaderboard")) == 0
    leaderboard(path, instance)
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=again.cursor)
    assert after.get_num_requested(dg.AssetKey("leaderboard")) == 0


def test_the_leaderboard_ranks_every_symbol_and_timeframe_and_exports_its_csv(stored):
    path, instance, _ = stored
    result = leaderboard(path, instance)
    meta = materialization(result, "leaderboard")
    root = path.parent / "wh"
    csv = root / "reports" / "leaderboard.csv"
    assert meta["csv"] == str(csv) and (meta["rows"], meta["ranked"]) == (2, 1)
    frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    # ETHUSDT has one month: it keeps its row, with the reason, after the ranked one
    assert list(frame["symbol"]) == ["BTCUSDT", "ETHUSDT"] and list(frame["timeframe"]) == ["1h", "1h"]
    assert frame["rank"].iloc[0] == 1 and np.isnan(frame["rank"].iloc[1])
    assert "in_sample_months = 1" in frame["reason"].iloc[1] and frame["reason"].isna().iloc[0]
    # the ranked row carries the walk-forward's own figures (its export), read, not recomputed
    exported = json.loads((root / "reports" / "BTCUSDT" / "1h_selection.json").read_text())
    btc = frame.iloc[0]
    assert btc["bb_period"] == exported["selection"]["bb_period"]
    assert btc["deflated_sharpe"] == pytest.approx(exported["statistics"]["deflated_sharpe"], rel=1e-12)
    assert btc["oos_sharpe"] == pytest.approx(exported["statistics"]["out_of_sample_sharpe"], rel=1e-12)
    assert btc["oos_sharpe_low"] == pytest.approx(exported["bootstrap"]["sharpe"]["low"], rel=1e-12)
    assert (btc["first_month"], btc["last_month"], btc["oos_months"], btc["months"]) == (
        "2024-01", "2024-02", 1, 2)
    assert btc["stability"] == 1.0 and btc["full_period_last"] == "2024-02"
    # the metadata's table is the CSV's, the chart a readable PNG of a few KB
    assert "| 1 | BTCUSDT | 1h |" in meta["table"] and "| - | ETHUSDT | 1h |" in meta["table"]
    png = base64.b64decode(meta["chart"].split("base64,")[1].rstrip(")"))
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
