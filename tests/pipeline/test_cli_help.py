"""The threadx command helps (issue 15, items 3 and 4): every refusal is one line naming the fault
with exit code 2, ``--version``, help in plain words with an example per command, and the result
table ``aggregate`` ends with (``demo``/``backfill``'s: tests/pipeline/test_backfill.py).

One project per module: two months of one symbol swept in process, then its walk-forward;
every command goes through ``main([...])`` in this process, on that project's instance."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.kit import materialize, write_project
from threadx_pipeline import cli_support
from threadx_pipeline.cli import main
from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.instance import open_instance
from threadx_pipeline.partitions import register_symbols

NOW = "2024-03-15T00:00:00Z"
#: What the reports read (the month graph without best_by_run and the featured backtests).
SWEPT = ("raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h")
SETTINGS = ("[grid]\nbb_period = [10, 20]\nbb_std = [2.0]\natr_period = [14]\natr_mult = [1.5]\n\n"
            "[walkforward]\nin_sample_months = 1\n\n[selection]\nmin_trades = 0\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_help")
    path = write_project(folder, derive=("1h",), sweep=("1h",), extra=SETTINGS)
    home = folder / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.setenv("THREADX_CONFIG", str(path))
        with open_instance(home) as instance:
            register_symbols(instance, ["BTCUSDT"])
            for month in ("2024-01", "2024-02"):
                assert materialize(path, instance, "BTCUSDT", month, SWEPT, now=NOW).success
            job = build_definitions(path).resolve_implicit_global_asset_job_def()
            assert job.execute_in_process(partition_key="BTCUSDT", instance=instance,
                                          asset_selection=[dg.AssetKey("walk_forward")]).success
        yield path


def refused(capfd, *argv: str) -> str:
    """The stderr of ``threadx argv``, asserted to be one line and exit code 2."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's refusals exit from parse_args
        code = exc.code
    err = capfd.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_aggregate_from_a_month_not_stored_is_one_line_naming_it(project, capfd):
    err = refused(capfd, "--config", str(project), "aggregate", "--first", "2023-11")
    assert err.startswith("threadx: BTCUSDT sweep_1h: month 2023-11 is not stored (stored: 2024-01..2024-02")


def test_demo_months_zero_says_what_months_takes(project, capfd):
    err = refused(capfd, "--config", str(project), "demo", "--months", "0")
    assert "--months: must be a whole number of at least 1, got '0'" in err


def test_empty_symbols_is_an_error_not_every_symbol(project, capfd):
    err = refused(capfd, "--config", str(project), "aggregate", "--symbols", "")
    assert "--symbols is empty" in err


def test_an_empty_symbol_entry_is_named(project, capfd):
    err = refused(capfd, "--config", str(project), "aggregate", "--symbols", "BTCUSDT,,ETHUSDT")
    assert "--symbols 'BTCUSDT,,ETHUSDT': entry 2 is empty" in err


@pytest.mark.parametrize(("argv", "fault"), [
    (("--config", "{tmp}/absent.toml", "demo"), "absent.toml: settings file not found"),
    (("--config", "{tmp}/bad.toml", "demo"), "bad.toml: not valid TOML"),
    (("--config", "{tmp}/nowh.toml", "backfill"), "warehouse root /dev/null/wh cannot be created"),
    (("--config", "{project}", "backfill", "--symbols", "DOGEUSDT"), "symbol(s) DOGEUSDT not in [universe]"),
    (("--config", "{project}", "backfill", "--from", "2024-13"), "month '2024-13' is not of the form"),
    (("--config", "{project}", "aggregate", "--first", "24-01"), "month '24-01' is not of the form YYYY-MM"),
    (("--config", "{project}", "demo", "--months", "two"), "got 'two'"),
    (("--config", "{project}", "backfill", "--frm", "2024-01"), "unrecognized arguments: --frm"),
    ((), "the following arguments are required: command"),
])
def test_each_fault_is_one_line_with_exit_2(project, tmp_path, capfd, argv, fault):
    (tmp_path / "bad.toml").write_text("[warehouse\n")
    (tmp_path / "nowh.toml").write_text(project.read_text().replace('root = "wh"', 'root = "/dev/null/wh"'))
    err = refused(capfd, *(a.format(tmp=tmp_path, project=project) for a in argv))
    assert fault in err


def test_an_unexpected_error_says_so_in_one_line_and_debug_shows_its_traceback(capfd):
    def bug() -> int:
        raise KeyError("carry_cash")

    assert cli_support.guarded(bug, debug=False) == 2
    err = capfd.readouterr().err
    assert err == ("threadx: unexpected error KeyError: 'carry_cash' (rerun with --debug for the "
                   "traceback; please report it)\n")
    assert cli_support.guarded(bug, debug=True) == 2
    err = capfd.readouterr().err
    assert err.startswith("Traceback") and err.endswith("(traceback above; please report it)\n")


def test_version_and_plain_help_with_an_example_per_command(capfd):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capfd.readouterr().out == f"threadx {cli_support.version()}\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capfd.readouterr().out
    commands = re.search(r"\{([a-z,]+)\}", top).group(1).split(",")
    assert {"demo", "backfill", "aggregate", "doctor"} <= set(commands)
    assert "``" not in top and "examples" in top
    for command in commands:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capfd.readouterr().out
        assert "``" not in text, command
        assert re.search(rf"example:\n  threadx {command}\b", text), (command, text)


def test_aggregate_ends_with_the_result_table(project, capfd):
    assert main(["--config", str(project), "aggregate"]) == 0
    out = capfd.readouterr().out
    table = out[out.index("Result ("):]
    header, row = table.splitlines()[1:3]
    assert header.split()[:4] == ["symbol", "tf", "selection", "from"]
    assert "oos_months" in header and "caution" in header
    # the walk-forward's latest selection (chosen on 2024-01, traded in 2024-02), its one
    # out-of-sample month and the caution it earns
    assert re.match(r"BTCUSDT\s+1h\s+bb\d+×2 atr14×1\.5\s+walk-forward 2024-02\s", row), row
    assert "only 1 OOS month(s) (< 3)" in row
    assert f"BTCUSDT: {Path(project).parent / 'wh' / 'reports' / 'BTCUSDT'}" in table
