"""The per-symbol walk-forward report materialised through Dagster after two monthly runs."""

import json

import numpy as np

from tests.pipeline.kit import materialization, run, write_project
from threadx_core import storage
from threadx_core.research.chain import aggregate, align
from threadx_core.research.selection import rank
from threadx_pipeline.definitions import SYMBOL_JOB, build_definitions


def test_walk_forward_chooses_in_sample_judges_out_of_sample_and_exports(tmp_path, instance):
    extra = "[walkforward]\nin_sample_months = 1\n\n[selection]\nmin_trades = 5\n"
    path = write_project(tmp_path, extra=extra)
    now = "2024-03-05T00:00:00Z"
    assert run(path, instance, "BTCUSDT", "2024-01", now=now).success
    assert run(path, instance, "BTCUSDT", "2024-02", now=now).success
    result = build_definitions(path).resolve_job_def(SYMBOL_JOB).execute_in_process(
        partition_key="BTCUSDT", instance=instance)
    assert result.success

    root = tmp_path / "wh"
    steps = storage.read_partition(storage.symbol_path(root, "walk_forward", "BTCUSDT"))
    assert list(steps["out_of_sample"]) == ["2024-02"] and list(steps["timeframe"]) == ["1h"]
    january = storage.read_partition(storage.partition_path(root, "sweep_1h", "BTCUSDT", "2024-01"))
    best_in_sample = rank(aggregate({"2024-01": january}), "sharpe", min_trades=5).iloc[0]
    assert steps["in_sample_objective"].iloc[0] == best_in_sample["sharpe"]
    assert steps["bb_period"].iloc[0] == best_in_sample["bb_period"]
    february = align({"2024-01": january, "2024-02": storage.read_partition(
        storage.partition_path(root, "sweep_1h", "BTCUSDT", "2024-02"))})["2024-02"]
    chosen = february.iloc[int(steps["combo"].iloc[0])]
    assert np.isclose(steps["out_of_sample_return"].iloc[0], chosen["total_return"], rtol=1e-9)

    meta = materialization(result, "walk_forward")
    summary = meta["1h_summary"]
    assert 0.0 <= summary["deflated_sharpe"] <= 1.0 and 0.0 <= summary["pbo"] <= 1.0
    for chart in ("out_of_sample_equity", "parameter_stability"):
        assert meta[f"1h_{chart}"].startswith(f"![{chart}](data:image/png;base64,")
    reports = root / "reports" / "BTCUSDT"
    exported = json.loads((reports / "1h_selection.json").read_text(), parse_constant=_not_json)
    assert exported["selection"]["bb_period"] == steps["bb_period"].iloc[0]
    assert (reports / "1h_out_of_sample_equity.png").read_bytes().startswith(b"\x89PNG")
    assert (reports / "1h_walk_forward.csv").read_text().startswith("in_sample_first")

    # with more in-sample months than stored, no 1h report: the files above must not outlive it
    write_project(tmp_path, extra=extra.replace("in_sample_months = 1", "in_sample_months = 2"))
    rerun = build_definitions(path).resolve_job_def(SYMBOL_JOB).execute_in_process(
        partition_key="BTCUSDT", instance=instance)
    assert rerun.success and materialization(rerun, "walk_forward")["steps"] == 0
    assert not list(reports.glob("1h_*"))


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON: non-finite numbers must be exported as null")


def test_too_few_months_is_a_warning_not_a_failure(project, instance):
    assert run(project, instance, "ETHUSDT", "2024-01", now="2024-03-05T00:00:00Z").success
    result = build_definitions(project).resolve_job_def(SYMBOL_JOB).execute_in_process(
        partition_key="ETHUSDT", instance=instance)
    assert result.success
    assert materialization(result, "walk_forward")["steps"] == 0
