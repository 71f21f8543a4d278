"""The ``dagster asset materialize`` examples of the README and the guide are accepted by the
Dagster CLI's own checks against the repository's ``threadx.toml``: one shared partitioning, and a
partition key of it (docs/GUIDE.md, The web UI)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context

from threadx_pipeline.definitions import build_definitions
from threadx_pipeline.partitions import register_symbols

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/GUIDE.md")


def materialize_commands(text: str) -> list[list[str]]:
    """Every ``dagster asset materialize`` command of ``text``, continuation lines joined, as argv."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [shlex.split(line.strip()) for line in joined.splitlines()
            if line.strip().startswith("dagster asset materialize")]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture(scope="module")
def repository():
    with dg.instance_for_test() as instance:
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        yield build_definitions(REPO / "threadx.toml").get_repository_def(), instance


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_materialize_commands_select_one_partitioning_that_has_their_partition(doc, repository):
    repo_def, instance = repository
    commands = [argv for argv in materialize_commands((REPO / doc).read_text()) if "--partition" in argv]
    assert commands, f"{doc} has no `dagster asset materialize … --partition` example"
    for argv in commands:
        select, partition = option(argv, "--select"), option(argv, "--partition")
        # what `dagster asset materialize` does before it runs anything (dagster/_cli/asset.py)
        keys = dg.AssetSelection.from_coercible(select.split(",")).resolve(repo_def.asset_graph)
        job = repo_def.get_implicit_job_def_for_assets(keys)
        assert job is not None, f"{doc}: --select {select!r} spans several partitionings"
        with partition_loading_context(dynamic_partitions_store=instance) as context:
            job.validate_partition_key(partition, selected_asset_keys=keys, context=context)
        assert {dg.AssetKey("raw_1m"), dg.AssetKey("backtest_report")} <= keys, f"{doc}: {select!r}"
