"""What the code location shows before anything runs: asset kinds, owners, descriptions and code
versions, and settings loaded once for every resource."""

import dagster as dg

from threadx_core import settings
from threadx_core.research import provenance
from threadx_pipeline.definitions import build_definitions

#: Assets whose output depends on code, hence carry a code version.
VERSIONED = ("raw_1m", "ohlcv_1h", "indicators_1h", "sweep_1h", "backtest_report", "backtest_trades",
             "best_by_run", "walk_forward", "full_period", "leaderboard")


def specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    # resolved inside an instance's context: Dagster ties definitions to the instance last open
    with dg.instance_for_test():
        return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_every_asset_has_kinds_owners_and_a_description(project):
    shown = specs(build_definitions(project))
    assert set(VERSIONED) <= set(shown)
    for name, spec in shown.items():
        # stored as Parquet, but for the leaderboard, whose stored form is its CSV export
        assert spec.kinds and ("csv" if name == "leaderboard" else "parquet") in spec.kinds, name
        assert spec.description, name
        market_data = name in ("raw_1m", "universe") or name.startswith("ohlcv_")
        team = "team:market-data" if market_data else "team:research"
        assert list(spec.owners) == [team], name
    assert {"numba", "parquet"} == set(shown["sweep_1h"].kinds)


def test_code_versions_follow_the_digest_of_the_core_sources(project, monkeypatch):
    before = {name: spec.code_version for name, spec in specs(build_definitions(project)).items()}
    assert all(before[name] for name in VERSIONED)
    assert before["sweep_1h"] == provenance.code_version()
    assert before["ohlcv_1h"] == before["ohlcv_4h"] != before["raw_1m"]

    monkeypatch.setattr(provenance, "source_digest", lambda *modules: f"{len(modules):x}" * 64)
    after = {name: spec.code_version for name, spec in specs(build_definitions(project)).items()}
    assert all(after[name] != before[name] for name in VERSIONED)
    assert after["sweep_1h"] == provenance.code_version() == f"{len(provenance.SWEEP_MODULES):x}" * 16


def test_the_settings_file_is_parsed_once_and_every_resource_shares_it(project, monkeypatch):
    loads = []
    load = settings.load
    monkeypatch.setattr(settings, "load", lambda path: loads.append(path) or load(path))
    defs = build_definitions(project)
    cfg = defs.resources["threadx"].get()
    assert len(loads) == 1 and cfg.path == project.resolve()
    assert defs.resources["warehouse"].root == cfg.warehouse.root == project.parent / "wh"
    assert cfg.sweep_grid() is cfg.sweep_grid() and len(cfg.sweep_grid()) == 1760
    io_manager = defs.resources["io_manager"]  # its paths are the warehouse resource's
    assert io_manager.warehouse.root == cfg.warehouse.root and not hasattr(io_manager, "root")
