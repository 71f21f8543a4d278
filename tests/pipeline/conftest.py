"""A throwaway ThreadX project (settings file + warehouse) and a Dagster instance for it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from threadx_pipeline.partitions import register_symbols


def write_project(folder: Path, *, symbols=("BTCUSDT",), source: str = "kind = \"synthetic\"",
                  extra: str = "", derive=("15m", "1h", "4h", "1d"), sweep=("1h",)) -> Path:
    """Write ``folder/threadx.toml`` and return its path (warehouse under ``folder/wh``)."""
    quoted = ", ".join(f'"{s}"' for s in symbols)
    tfs = ", ".join(f'"{t}"' for t in derive)
    sweep_tfs = ", ".join(f'"{t}"' for t in sweep)
    path = folder / "threadx.toml"
    path.write_text(
        f'[warehouse]\nroot = "wh"\n\n[universe]\nsymbols = [{quoted}]\nstart_month = "2024-01"\n\n'
        f"[source]\n{source}\n\n[timeframes]\nderive = [{tfs}]\nsweep = [{sweep_tfs}]\n{extra}\n")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        register_symbols(inst, ["BTCUSDT", "ETHUSDT"])
        yield inst
