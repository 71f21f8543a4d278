"""Every failure explained in one line naming asset, symbol and month (threadx_pipeline.failures),
through a real instance and through the ``threadx`` command."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.pipeline.kit import materialize, threadx
from threadx_core.storage import CorruptPartitionError
from threadx_pipeline.failures import explained
from threadx_pipeline.runs import root_cause

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills


def _step_failure(instance: dg.DagsterInstance, run_id: str):
    (record,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return record.dagster_event.step_failure_data


FILE = "wh/raw_1m/symbol=BTCUSDT/month=2024-02.parquet"
CORRUPT = CorruptPartitionError(FILE, "Parquet magic bytes not found")


@pytest.mark.parametrize("error, line, traceback", [
    (CORRUPT, f"raw_1m BTCUSDT 2024-02: partition file {FILE} is corrupt (Parquet magic bytes not found); "
              "delete it or re-materialise the partition", False),
    (ZeroDivisionError("division by zero"), "raw_1m BTCUSDT 2024-02: ZeroDivisionError: division by zero",
     True),
])
def test_a_failing_partition_fails_its_run_with_one_line_and_metadata(error, line, traceback):
    @dg.asset(name="raw_1m")
    def failing() -> None:
        with explained("raw_1m", "BTCUSDT", "2024-02"):
            raise error

    with dg.instance_for_test() as instance:
        result = dg.materialize([failing], instance=instance, raise_on_error=False)
        assert not result.success
        assert root_cause(instance, result.run_id) == line
        failure = _step_failure(instance, result.run_id)
        metadata = {k: v.value for k, v in failure.user_failure_data.metadata.items()}
        assert metadata == {"asset": "raw_1m", "symbol": "BTCUSDT", "month": "2024-02",
                            "error": type(error).__name__}
        # a user error is its message alone; a bug keeps its traceback for whoever debugs it
        assert (failure.error.cause is not None) is traceback


def test_a_corrupt_stored_month_is_one_line_in_the_command_naming_the_file(project, tmp_path):
    corrupt = project.parent / "wh" / "raw_1m" / "symbol=BTCUSDT" / "month=2024-01.parquet"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not parquet at all")
    done = threadx("--config", str(project), "backfill", "--from", "2024-01", "--to", "2024-01",
                   home=tmp_path, cwd=tmp_path)
    assert done.returncode == 1
    expected = f"raw_1m BTCUSDT 2024-01: partition file {corrupt} is corrupt"
    progress = [line for line in done.stdout.splitlines() if "FAILED" in line]
    summary = [line for line in done.stderr.splitlines() if line.startswith("  BTCUSDT")]
    assert progress and expected in progress[0], done.stdout[-3000:]
    assert summary and expected in summary[0], done.stderr[-3000:]
    assert corrupt.read_bytes() == b"not parquet at all"  # nothing replaced without --force


def test_an_input_that_cannot_be_read_fails_the_reading_step_in_one_line(project, instance):
    # inputs load before the body (outside its explained block): the IO manager explains them
    corrupt = project.parent / "wh" / "raw_1m" / "symbol=BTCUSDT" / "month=2024-01.parquet"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not parquet at all")
    result = materialize(project, instance, "BTCUSDT", "2024-01", ["ohlcv_1h"], now="2024-03-01T00:00:00Z")
    assert not result.success
    line = root_cause(instance, result.run_id)
    assert line.startswith(f"ohlcv BTCUSDT 2024-01: partition file {corrupt} is corrupt ("), line
    failure = _step_failure(instance, result.run_id).user_failure_data
    metadata = {k: v.value for k, v in failure.metadata.items()}
    assert metadata == {"asset": "ohlcv", "symbol": "BTCUSDT", "month": "2024-01",
                        "error": "CorruptPartitionError"}
