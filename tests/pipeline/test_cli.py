"""The threadx command: clear refusals (its backfills: tests/pipeline/test_backfill.py)."""

from tests.pipeline.kit import threadx


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


def test_backfill_refuses_future_months_and_reversed_ranges_up_front(project, tmp_path):
    future = threadx("--config", str(project), "backfill", "--from", "2024-01", "--to", "2999-01",
                     home=tmp_path, cwd=tmp_path)
    assert future.returncode == 2, future.stderr
    assert future.stderr.startswith("threadx: --to 2999-01 is after the current month")
    assert "Traceback" not in future.stderr and "DagsterUnknownPartitionError" not in future.stderr
    assert "submitted" not in future.stdout  # refused before any backfill exists
    backwards = threadx("--config", str(project), "backfill", "--from", "2024-03", "--to", "2024-02",
                        home=tmp_path, cwd=tmp_path)
    assert backwards.returncode == 2 and "2024-02 precedes 2024-03" in backwards.stderr
