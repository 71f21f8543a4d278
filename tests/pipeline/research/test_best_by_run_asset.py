"""The selection's exports materialised through Dagster: ``best_by_run`` re-runs its rank 1 (trades
CSV/Parquet, selection JSON, equity and price charts), ``walk_forward`` charts its latest selection
and its out-of-sample month's price, ``backtest_report`` a price chart per timeframe."""

from __future__ import annotations

import base64
import io
import json
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.pipeline.kit import materialization, run, write_project
from threadx_core import storage
from threadx_core.engine.params import PARAM_NAMES
from threadx_pipeline.definitions import SYMBOL_JOB, build_definitions
from threadx_pipeline.partitions import register_symbols


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    """January and February of BTCUSDT (February's indicators warmed up on January), then the
    symbol's walk-forward (one month in sample): the project path and both results."""
    path = write_project(tmp_path_factory.mktemp("selection"),
                         extra="[walkforward]\nin_sample_months = 1\n\n[selection]\nmin_trades = 5\n")
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT"])
        now = "2024-03-05T00:00:00Z"
        assert run(path, instance, "BTCUSDT", "2024-01", now=now).success
        february = run(path, instance, "BTCUSDT", "2024-02", now=now)
        assert february.success
        symbol = build_definitions(path).resolve_job_def(SYMBOL_JOB).execute_in_process(
            partition_key="BTCUSDT", instance=instance)
        assert symbol.success
        yield path, february, symbol


def shown_png(markdown: str, alt: str) -> bytes:
    """The PNG of an ``image`` metadata entry (base64 Markdown)."""
    found = re.fullmatch(rf"!\[{alt}\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert found, markdown[:80]
    return base64.b64decode(found.group(1))


def test_best_by_run_reruns_and_exports_its_rank_one(materialised):
    path, february, _ = materialised
    root = path.parent / "wh"
    folder = root / "reports" / "BTCUSDT" / "2024-02"
    best = storage.read_partition(storage.partition_path(root, "best_by_run", "BTCUSDT", "2024-02"))
    top = best.iloc[0]

    csv = pd.read_csv(folder / "best_by_run_trades.csv", parse_dates=["entry_time", "exit_time"])
    parquet = pd.read_parquet(folder / "best_by_run_trades.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    assert len(parquet) == top["n_trades"] >= 5
    # February continues January's run of the combination: its trades are those closed in
    # February (one may have opened in January), their pnl what the cash while flat gained
    january = storage.read_partition(storage.partition_path(root, f"sweep_{top['timeframe']}", "BTCUSDT",
                                                            "2024-01"))
    before = january[(january[list(PARAM_NAMES)] == top[list(PARAM_NAMES)]).all(axis=1)].iloc[0]
    assert parquet["pnl"].sum() == pytest.approx(top["carry_flat_cash"] - before["carry_flat_cash"], rel=1e-9)
    assert (parquet["timeframe"] == top["timeframe"]).all()
    assert parquet["exit_time"].min() >= pd.Timestamp("2024-02-01", tz="UTC")

    selection = json.loads((folder / "best_by_run_selection.json").read_text())
    assert {k: selection["parameters"][k] for k in PARAM_NAMES} == {k: top[k] for k in PARAM_NAMES}
    assert selection["timeframe"] == top["timeframe"] and selection["run_id"] == top["run_id"]
    assert selection["objective"] == "sharpe" and selection["objective_value"] == top["sharpe"]
    assert selection["metrics"]["final_equity"] == top["final_equity"]

    meta = materialization(february, "best_by_run")
    png = (folder / "best_by_run_selection_equity.png").read_bytes()
    assert png.startswith(b"\x89PNG") and shown_png(meta["selection_equity"], "selection_equity") == png
    assert meta["selection_trades"] == len(parquet)
    assert meta["selection_trades_csv"] == str(folder / "best_by_run_trades.csv")
    assert meta["selection"] == selection["run"]


def _picture(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_best_by_run_shows_and_exports_the_selection_price_chart(materialised):
    path, february, _ = materialised
    folder = path.parent / "wh" / "reports" / "BTCUSDT" / "2024-02"
    png = (folder / "best_by_run_selection_price.png").read_bytes()
    assert shown_png(materialization(february, "best_by_run")["selection_price"], "selection_price") == png
    assert _picture(png) == (1280, 720) and len(png) < 200_000


def test_each_featured_month_shows_and_exports_a_price_chart_per_timeframe(materialised):
    path, february, _ = materialised
    meta = materialization(february, "backtest_report")
    folder = path.parent / "wh" / "reports" / "BTCUSDT" / "2024-02"
    assert [p.name for p in folder.glob("backtest_report_price_*.png")] == ["backtest_report_price_1h.png"]
    png = (folder / "backtest_report_price_1h.png").read_bytes()
    assert shown_png(meta["backtest_report_price_1h"], "backtest_report_price_1h.png") == png
    assert meta["backtest_report_price_1h_file"] == str(folder / "backtest_report_price_1h.png")
    assert _picture(png) == (1280, 720)


def test_walk_forward_shows_and_exports_its_out_of_sample_price_chart(materialised):
    path, _, symbol = materialised
    png = (path.parent / "wh" / "reports" / "BTCUSDT" / "1h_out_of_sample_price.png").read_bytes()
    meta = materialization(symbol, "walk_forward")
    assert shown_png(meta["1h_out_of_sample_price"], "out_of_sample_price") == png
    assert _picture(png) == (1280, 720)


def test_walk_forward_charts_and_exports_the_latest_selection(materialised):
    path, _, symbol = materialised
    reports = path.parent / "wh" / "reports" / "BTCUSDT"
    steps = storage.read_partition(storage.symbol_path(path.parent / "wh", "walk_forward", "BTCUSDT"))
    assert steps["combo"].iloc[-1] >= 0
    png = (reports / "1h_selection_equity.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    meta = materialization(symbol, "walk_forward")
    assert shown_png(meta["1h_selection_equity"], "selection_equity") == png
    assert np.isfinite(meta["1h_summary"]["out_of_sample_total_return"])
