"""``full_period`` materialised through Dagster over stored monthly sweeps, and ``threadx aggregate``."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tests.pipeline.kit import materialization, run, write_project
from threadx_core import storage
from threadx_core.research.chain import aggregate
from threadx_core.settings import load
from threadx_core.sweep.run import run_with_daily
from threadx_pipeline import cli
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import register_symbols

GRID = "[grid]\nbb_period = [10, 20]\nbb_std = [1.5, 2.0]\natr_period = [14]\natr_mult = [1.5, 2.0]\n"
MONTHS = ("2024-01", "2024-02", "2024-03")
TFS = ("1h", "4h")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Three months of ``sweep_1h`` and ``sweep_4h`` for BTCUSDT: (settings path, instance)."""
    path = write_project(tmp_path_factory.mktemp("full_period"), derive=TFS, sweep=TFS,
                         extra=GRID + "\n[selection]\nmin_trades = 1\ntop_k = 3\n")
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT"])
        for month in MONTHS:
            assert run(path, instance, "BTCUSDT", month, now="2024-04-05T00:00:00Z").success
        yield path, instance


def full_period(path, instance, **config):
    job = build_definitions(path).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(partition_key="BTCUSDT", instance=instance, raise_on_error=False,
                                  asset_selection=[dg.AssetKey("full_period")],
                                  run_config={"ops": {"full_period": {"config": config}}})


def stored_frame(path):
    return storage.read_partition(storage.symbol_path(path.parent / "wh", "full_period", "BTCUSDT"))


def expected(path, tf, first, last):
    root = path.parent / "wh"
    sweeps = {m: storage.read_partition(storage.partition_path(root, f"sweep_{tf}", "BTCUSDT", m))
              for m in MONTHS}
    return aggregate(sweeps, first, last, close_at_end=True)


def test_full_range_equals_the_aggregate_of_the_stored_months_and_is_exported(stored):
    path, instance = stored
    result = full_period(path, instance, first="2024-01", last="2024-03")
    assert result.success
    frame = stored_frame(path)
    assert list(frame["timeframe"].unique()) == list(TFS) and len(frame) == 2 * 8
    for tf in TFS:
        mine = frame[frame["timeframe"] == tf].reset_index(drop=True)
        reference = expected(path, tf, "2024-01", "2024-03")
        assert set(mine["first"]) == {"2024-01"} and set(mine["last"]) == {"2024-03"}  # one chain
        pd.testing.assert_frame_equal(mine.drop(columns=["daily_returns", "first", "last"]),
                                      reference.drop(columns="daily_returns"))
        assert np.array_equal(np.vstack(mine["daily_returns"]), np.vstack(reference["daily_returns"]))
        assert mine.attrs["days"] == reference.attrs["days"]
    assert json.loads(frame.attrs["months"]) == list(MONTHS)
    assert len(json.loads(frame.attrs["days"])) == 31 + 29 + 31

    meta = materialization(result, "full_period")
    assert (meta["first"], meta["last"], meta["months"], meta["days"]) == ("2024-01", "2024-03", 3, 91)
    assert meta["combinations"] == 16 and meta["objective"] == "sharpe"
    assert meta["top_k"].startswith("| rank | timeframe | bb_period")
    assert meta["top_k"].count("\n") == 1 + 3
    assert meta["heatmap"].startswith("![heatmap](data:image/png;base64,")
    csv = path.parent / "wh" / "reports" / "BTCUSDT" / "full_period_2024-01_2024-03.csv"
    assert meta["csv"] == str(csv)
    exported = pd.read_csv(csv)
    assert len(exported) == 16 and "daily_returns" not in exported
    assert np.allclose(exported["final_equity"], frame["final_equity"], rtol=1e-12)
    assert csv.with_name("full_period_2024-01_2024-03_distribution.png").read_bytes().startswith(b"\x89PNG")


def test_the_full_range_is_one_continuous_run_over_its_bars_closed_at_its_end(stored):
    path, instance = stored
    result = full_period(path, instance)
    assert result.success
    frame, root = stored_frame(path), path.parent / "wh"
    assert materialization(result, "full_period")["open_at_end"] == int(frame["open_at_end"].sum()) > 0
    grid = load(path).sweep_grid()
    for tf in TFS:
        def months_of(asset: str) -> pd.DataFrame:
            return pd.concat([storage.read_partition(storage.partition_path(root, asset, "BTCUSDT", m))
                              for m in MONTHS], ignore_index=True)
        whole = run_with_daily(months_of(f"ohlcv_{tf}"), grid, "cpu",
                               indicators=months_of(f"indicators_{tf}"))
        mine = frame[frame["timeframe"] == tf].reset_index(drop=True)
        keys = ["n_trades", "final_equity", "total_return", "fees_paid", "win_rate", "profit_factor",
                "expectancy", "exposure"]
        np.testing.assert_array_equal(mine["n_trades"], whole.results["n_trades"])
        np.testing.assert_allclose(mine[keys].to_numpy(float), whole.results[keys].to_numpy(float),
                                   rtol=1e-9, atol=1e-12, equal_nan=True)
        if tf == "1h":  # some combinations held a position over a month end and at the last candle
            assert mine["open_at_end"].any()
            january = storage.read_partition(storage.partition_path(root, "sweep_1h", "BTCUSDT", "2024-01"))
            assert (january["carry_side"] != 0).any()


def test_a_sub_range_differs_and_the_default_is_every_stored_month(stored):
    path, instance = stored
    assert full_period(path, instance, first="2024-02").success
    sub = stored_frame(path)
    assert json.loads(sub.attrs["months"]) == ["2024-02", "2024-03"]
    reference = expected(path, "1h", "2024-02", "2024-03")
    hourly = sub[sub["timeframe"] == "1h"]
    assert np.allclose(hourly["final_equity"], reference["final_equity"], rtol=1e-12)
    assert (path.parent / "wh" / "reports" / "BTCUSDT" / "full_period_2024-02_2024-03.csv").exists()

    assert full_period(path, instance).success
    whole = stored_frame(path)
    assert (whole.attrs["first"], whole.attrs["last"]) == ("2024-01", "2024-03")
    # the sub-range is a window of the same continuing run: it ends with the same account, but
    # grew less and traded less over its shorter span
    assert np.allclose(whole["final_equity"], sub["final_equity"], rtol=1e-12)
    assert not np.allclose(whole["total_return"], sub["total_return"])
    assert (whole["n_trades"] >= sub["n_trades"]).all() and (whole["n_trades"] > sub["n_trades"]).any()
    assert not np.allclose(whole["sharpe"], sub["sharpe"], equal_nan=True)


@pytest.mark.parametrize(("config", "named"), [
    ({"first": "2024-02", "last": "2024-05"}, ("BTCUSDT 1h", "month 2024-04 is not stored")),
    ({"first": "2023-12"}, ("BTCUSDT 1h", "month 2023-12 is not stored")),
    ({"first": "2024-13"}, ("BTCUSDT", "'2024-13'")),
])
def test_a_range_of_months_not_stored_fails_naming_symbol_timeframe_and_month(stored, config, named):
    path, instance = stored
    result = full_period(path, instance, **config)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert all(part in message for part in named), message


def test_threadx_aggregate_materialises_full_period_and_prints_the_csv(stored, tmp_path, monkeypatch, capsys):
    path, _ = stored
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("THREADX_CONFIG", str(path))
    code = cli.main(["--config", str(path), "aggregate", "--symbols", "BTCUSDT", "--first", "2024-01",
                     "--last", "2024-02"])
    out = capsys.readouterr().out
    csv = path.parent / "wh" / "reports" / "BTCUSDT" / "full_period_2024-01_2024-02.csv"
    assert code == 0 and f"BTCUSDT: CSV {csv}" in out, out
    assert len(pd.read_csv(csv)) == 16
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        (done,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        assert done.tags["dagster/partition"] == "BTCUSDT"

    assert cli.main(["--config", str(path), "aggregate", "--symbols", "DOGEUSDT"]) == 2
    assert cli.main(["--config", str(path), "aggregate", "--first", "2024-03", "--last", "2024-01"]) == 2
    assert "2024-01 precedes 2024-03" in capsys.readouterr().err
