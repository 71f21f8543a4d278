"""A throwaway ThreadX project (settings file + warehouse) and a Dagster instance for it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.pipeline.kit import write_project
from threadx_pipeline.partitions import register_symbols


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        register_symbols(inst, ["BTCUSDT", "ETHUSDT"])
        yield inst
