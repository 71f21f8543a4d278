"""Provenance of research results: run ids, code versions and data versions.

A run id names a question — the same grid on the same data with the same code gives the same
id — so a stored result can be told apart from one made by other inputs or older code. Code
versions are digests of the core sources that decide an output's numbers; the Dagster assets carry
them as ``code_version`` so that the UI flags partitions made by older code
(docs/ARCHITECTURE.md, Selection and research).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterable

import pandas as pd

from threadx_core.engine.nb import source_digest

#: The modules whose source decides a sweep's numbers: engine, indicators, metrics, sweep kernel,
#: carried states and month chaining (in this order: the order is part of the digest, hence of
#: every stored run id).
SWEEP_MODULES = ("threadx_core.engine.nb", "threadx_core.indicators.nb", "threadx_core.metrics.nb",
                 "threadx_core.sweep.cpu", "threadx_core.engine.carry", "threadx_core.sweep.chained")


def modules_version(*modules: str) -> str:
    """A code version: 16 hex digits of the digest of the sources of ``modules`` (dotted names,
    in order), which changes whenever one of those files does."""
    return source_digest(*(importlib.import_module(name) for name in modules))[:16]


def code_version() -> str:
    """The code version of a sweep's numbers (:data:`SWEEP_MODULES`), part of its run id."""
    return modules_version(*SWEEP_MODULES)


def run_id(grid_digest: str, data_versions: Iterable[str], code_version: str) -> str:
    """Stable id of a question: the same grid on the same data with the same code → same id."""
    payload = json.dumps({"grid": grid_digest, "data": sorted(data_versions), "code": code_version})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def frame_version(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values and column names), as a data version."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(frame.columns).encode()).hexdigest()[:16]


def continued_run_id(question: str, frames: Iterable[pd.DataFrame], previous_run_id: str,
                     code_version: str) -> str:
    """The run id of one month of a continuing run (:mod:`threadx_core.sweep.chained`): the
    ``question`` (a grid digest, or the featured sets), the versions of the month's input
    ``frames`` (bars, indicator caches), the run id of the month it continues (``""`` at the
    start of a chain) and the code version."""
    versions = [frame_version(frame) for frame in frames]
    return run_id(question, [*versions, f"continues:{previous_run_id}"], code_version)
