"""threadx.toml loading: defaults, path resolution, and errors that name the key at fault."""

from pathlib import Path

import pytest

from threadx_core import settings
from threadx_core.settings import SettingsError

PROJECT_TOML = Path(__file__).resolve().parents[2] / "threadx.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "threadx.toml"
    path.write_text(text)
    return path


def test_project_file_loads_with_synthetic_default_and_two_symbols():
    cfg = settings.load(PROJECT_TOML)
    assert cfg.source.kind == "synthetic"
    assert len(cfg.universe.symbols) == 2
    assert cfg.timeframes.derive == ("3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")


def test_empty_file_gives_documented_defaults(tmp_path):
    cfg = settings.load(write(tmp_path, ""))
    assert cfg.gaps.fill == "none"
    assert cfg.binance.weight_limit == 6000
    assert cfg.automation.interval_s == 30
    assert cfg.warehouse.root == (tmp_path / "data" / "warehouse").resolve()


def test_relative_paths_resolve_against_the_file_not_the_cwd(tmp_path, monkeypatch):
    sub = tmp_path / "proj"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = settings.load(write(sub, '[warehouse]\nroot = "wh"\n'))
    assert cfg.warehouse.root == (sub / "wh").resolve()


def test_integers_are_accepted_for_float_keys(tmp_path):
    assert settings.load(write(tmp_path, "[binance]\ntimeout_s = 3\n")).binance.timeout_s == 3.0


@pytest.mark.parametrize(("text", "named"), [
    ("[universe]\nsymbol = ['BTCUSDT']\n", "[universe] unknown key(s) ['symbol']"),
    ("[sources]\nkind = 'x'\n", "unknown section(s) ['sources']"),
    ("[source]\nkind = 'kraken'\n", "[source] kind: 'kraken'"),
    ("[gaps]\nfill = 'linear'\n", "[gaps] fill: 'linear'"),
    ("[gaps]\ncompleteness_warn = 1.5\n", "[gaps] completeness_warn"),
    ("[binance]\ntimeout_s = '10'\n", "[binance] timeout_s = '10': expected float"),
    ("[binance]\nmax_retries = true\n", "[binance] max_retries = True: expected int"),
    ("[binance]\nrest_url = 'ftp://x'\n", "[binance] rest_url"),
    ("[binance]\nstate_dir = 5\n", "[binance] state_dir = 5: expected a path string"),
    ("[binance]\nban_default_s = 0\n", "[binance] ban_default_s: must be > 0"),
    ("[universe]\nsymbols = ['btcusdt']\n", "[universe] symbols: symbol 'btcusdt'"),
    ("[universe]\nsymbols = []\n", "[universe] symbols: at least one"),
    ("[universe]\nstart_month = '2024-13'\n", "[universe] start_month"),
    ("[timeframes]\nderive = ['7m']\n", "[timeframes] derive"),
    ("[timeframes]\nderive = ['1M']\n", "[timeframes] derive"),
    ("[source]\ngap_probability = 1.0\n", "[source] gap_probability"),
    ("[automation]\ninterval_s = 2\n", "[automation] interval_s: must be >= 5"),
])
def test_bad_values_are_rejected_naming_section_and_key(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        settings.load(path)
    assert named in str(err.value)
    assert str(path) in str(err.value)


def test_missing_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        settings.load(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings.load(write(tmp_path, "[universe\n"))


def test_strategy_grid_and_report_sections_build_validated_objects(tmp_path):
    cfg = settings.load(write(tmp_path, (
        "[strategy]\nfee_bps = 4\n\n[grid]\nbb_period = [10, 20]\n"
        "bb_std = {start = 1.0, stop = 2.0, step = 0.5}\n\n"
        "[report]\nfeatured = [{bb_period = 30}]\n")))
    grid = cfg.sweep_grid()
    assert len(grid) == 6 and all(p.fee_bps == 4.0 for p in grid)
    assert cfg.featured()[0].bb_period == 30 and cfg.featured()[0].fee_bps == 4.0


def test_project_grid_is_the_1760_reference_grid():
    assert len(settings.load(PROJECT_TOML).sweep_grid()) == 1760


@pytest.mark.parametrize(("text", "named"), [
    ("[strategy]\nfee_bps = -1\n", "[strategy] fee_bps must be ≥ 0"),
    ("[strategy]\nfee = 1\n", "[strategy] unknown strategy parameter(s): fee"),
    ("[grid]\nbb_period = [1, 20]\n", "[grid] bb_period must be an integer ≥ 2, got 1"),
    ("[grid]\nbb_std = {start = 2.0, stop = 1.0, step = 0.1}\n", "[grid] grid bb_std: need step > 0"),
    ("[report]\nfeatured = [{bb_std = 0}]\n", "[report] bb_std must be > 0"),
    ("[timeframes]\nsweep = [\"2h\"]\nderive = [\"1h\"]\n", "[timeframes] sweep: ['2h'] must also"),
])
def test_strategy_sections_name_the_parameter_at_fault(tmp_path, text, named):
    with pytest.raises(SettingsError) as err:
        settings.load(write(tmp_path, text))
    assert named in str(err.value)


@pytest.mark.parametrize(("text", "named"), [
    ("[selection]\nobjective = \"sharp\"\n", "[selection] objective: 'sharp'"),
    ("[selection]\ntop_k = 0\n", "[selection] top_k"),
    ("[device]\nmode = \"tpu\"\n", "[device] mode: 'tpu'"),
    ("[device]\ngpus = [0, 1]\nratios = [1.0]\n", "[device] ratios: 1 given for 2 gpus"),
])
def test_selection_and_device_errors_name_the_key(tmp_path, text, named):
    with pytest.raises(SettingsError) as err:
        settings.load(write(tmp_path, text))
    assert named in str(err.value)
