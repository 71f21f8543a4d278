"""Operator drills through Dagster: hostile partition keys write nothing, and ``force`` repairs a
corrupt ``raw_1m`` month (docs/OPERATIONS.md)."""

from __future__ import annotations

import pytest

from tests.pipeline.kit import run
from threadx_core import schema, storage
from threadx_pipeline.partitions import SYMBOLS, register_symbols

pytestmark = pytest.mark.drill  # docs/OPERATIONS.md, Drills

NOW = "2024-03-01T00:00:00Z"


def failure_text(result) -> str:
    """The first step failure's error and its causes, as one text."""
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


@pytest.mark.parametrize("symbol", ["../../../../escape", "../evil", "btcusdt", "BTC/USDT"])
def test_registering_a_hostile_symbol_is_refused(instance, symbol):
    with pytest.raises(ValueError, match="not a Binance spot symbol"):
        register_symbols(instance, [symbol])
    assert not instance.has_dynamic_partition(SYMBOLS.name, symbol)


def test_a_hostile_symbol_added_as_the_ui_does_fails_its_run_and_writes_nothing(project, instance, tmp_path):
    # the UI's "Add partition" (GraphQL addDynamicPartition) adds the key without our check
    instance.add_dynamic_partitions(SYMBOLS.name, ["../../../../escape"])
    result = run(project, instance, "../../../../escape", "2024-01", now=NOW)
    assert not result.success
    assert "symbol '../../../../escape' is not a Binance spot symbol" in failure_text(result)
    written = [p for p in tmp_path.parent.rglob("*.parquet") if "escape" in str(p)]
    assert written == []
    assert not (project.parent / "wh" / "raw_1m").exists() or not any(
        (project.parent / "wh" / "raw_1m").rglob("*.parquet"))


def test_force_repairs_a_corrupt_raw_month_and_without_force_the_run_names_the_file(project, instance):
    assert run(project, instance, "BTCUSDT", "2024-01", now=NOW).success
    path = storage.partition_path(project.parent / "wh", "raw_1m", "BTCUSDT", "2024-01")
    good = storage.read_partition(path)
    path.write_bytes(path.read_bytes()[:200])  # truncated: no Parquet footer

    refused = run(project, instance, "BTCUSDT", "2024-01", now=NOW)
    assert not refused.success
    assert str(path) in failure_text(refused) and "corrupt" in failure_text(refused)
    assert path.stat().st_size == 200  # a failed run never replaces the file

    repaired = run(project, instance, "BTCUSDT", "2024-01", now=NOW, force=True)
    assert repaired.success
    fresh = storage.read_partition(path)
    schema.validate_raw_1m(fresh, "test")
    assert fresh.equals(good)
