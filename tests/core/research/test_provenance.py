"""Run ids, data versions and code versions."""

import pandas as pd

from threadx_core.engine import carry
from threadx_core.engine import nb as engine_nb
from threadx_core.indicators import nb as indicators_nb
from threadx_core.metrics import nb as metrics_nb
from threadx_core.research import provenance
from threadx_core.research.provenance import code_version, frame_version, modules_version, run_id
from threadx_core.sweep import chained, cpu


def test_run_id_is_stable_and_sensitive_to_each_part():
    base = run_id("grid", ["a", "b"], "code")
    assert base == run_id("grid", ["b", "a"], "code")
    assert len({base, run_id("grid2", ["a", "b"], "code"), run_id("grid", ["a"], "code"),
                run_id("grid", ["a", "b"], "code2")}) == 4


def test_frame_version_changes_with_any_value():
    frame = pd.DataFrame({"close": [1.0, 2.0]})
    assert frame_version(frame) == frame_version(frame.copy())
    assert frame_version(frame) != frame_version(pd.DataFrame({"close": [1.0, 2.5]}))


def test_the_sweep_code_version_digests_engine_indicators_metrics_kernel_and_chaining_in_that_order():
    # the value is part of every stored run id: it must not change with where it is computed
    expected = engine_nb.source_digest(engine_nb, indicators_nb, metrics_nb, cpu, carry, chained)[:16]
    assert code_version() == expected == modules_version(*provenance.SWEEP_MODULES)
    assert modules_version("threadx_core.data.resample") != code_version()
