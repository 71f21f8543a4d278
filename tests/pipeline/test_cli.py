"""The threadx command: backfills recorded in a real Dagster instance, and clear refusals."""

import os
import subprocess
import sys

import dagster as dg

from threadx_core import storage
from threadx_pipeline.runs import BACKFILL_TAG


def threadx(*args, home, cwd):
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("THREADX_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "threadx_pipeline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_backfill_materialises_a_month_range_and_records_runs_in_the_instance(project, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    done = threadx("--config", str(project), "backfill", "--symbols", "BTCUSDT", "--from", "2024-01",
                   "--to", "2024-02", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[2/2] BTCUSDT 2024-02: ok" in done.stdout
    for month in ("2024-01", "2024-02"):
        assert storage.partition_path(tmp_path / "wh", "ohlcv_1d", "BTCUSDT", month).exists()
    for per_symbol in ("walk_forward", "full_period"):
        assert storage.symbol_path(tmp_path / "wh", per_symbol, "BTCUSDT").exists()
    assert (tmp_path / "wh" / "reports" / "BTCUSDT" / "full_period_2024-01_2024-02.csv").exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        monthly = [r for r in runs if r.job_name == "symbol_month_job"]
        assert len(monthly) == 2 and len({r.tags[BACKFILL_TAG] for r in monthly}) == 1
        assert {r.tags["dagster/partition"] for r in monthly} == {"2024-01|BTCUSDT", "2024-02|BTCUSDT"}
        assert [r.tags["dagster/partition"] for r in runs if r.job_name == "symbol_report_job"] == ["BTCUSDT"]
        assert instance.get_dynamic_partitions("symbols") == ["BTCUSDT"]


def test_backfill_refuses_unknown_symbols_and_months_before_start(project, tmp_path):
    bad_symbol = threadx("--config", str(project), "backfill", "--symbols", "DOGEUSDT",
                         home=tmp_path, cwd=tmp_path)
    assert bad_symbol.returncode == 2 and "DOGEUSDT" in bad_symbol.stderr
    too_early = threadx("--config", str(project), "backfill", "--from", "2023-06", "--to", "2024-01",
                        home=tmp_path, cwd=tmp_path)
    assert too_early.returncode == 2 and "2023-06" in too_early.stderr


def test_bad_settings_file_is_reported_with_the_key(tmp_path):
    path = tmp_path / "threadx.toml"
    path.write_text('[gaps]\nfill = "linear"\n')
    done = threadx("--config", str(path), "backfill", home=tmp_path, cwd=tmp_path)
    assert done.returncode == 2 and "[gaps] fill: 'linear'" in done.stderr


def test_demo_refuses_a_non_synthetic_source(tmp_path):
    path = tmp_path / "threadx.toml"
    path.write_text('[source]\nkind = "binance"\n')
    done = threadx("--config", str(path), "demo", home=tmp_path, cwd=tmp_path)
    assert done.returncode == 2 and "synthetic" in done.stderr
