"""Sweep grids: expansion, validation, deduplication, order and the reference size."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadx_core.engine.params import Params
from threadx_core.sweep.grid import Grid, expand


def test_reference_grid_has_1760_combinations_and_its_windows():
    grid = Grid()
    assert len(grid) == 1760
    assert grid.bb_periods() == [10, 15, 20, 25, 30]
    assert [p for p, _ in grid.atr_windows()] == list(range(10, 31, 2))
    assert grid.axes["bb_std"] == tuple(round(1.5 + 0.1 * i, 10) for i in range(16))


def test_ranges_have_inclusive_stop_without_float_drift():
    assert expand("bb_std", {"start": 1.5, "stop": 3.0, "step": 0.1})[3] == 1.8
    assert expand("atr_period", {"start": 10, "stop": 30, "step": 2}) == tuple(range(10, 31, 2))
    assert expand("atr_mult", 2.0) == (2.0,)


def test_order_is_params_field_order_last_axis_fastest_and_duplicates_dropped():
    grid = Grid({"atr_mult": [1.0, 2.0], "bb_period": [10, 20, 10]})
    assert [(p.bb_period, p.atr_mult) for p in grid] == [(10, 1.0), (10, 2.0), (20, 1.0), (20, 2.0)]
    assert list(grid.to_frame()["bb_period"]) == [10, 10, 20, 20]


def test_base_parameters_apply_to_every_combination():
    grid = Grid({"bb_period": [10, 20]}, base=Params(fee_bps=2.0, allow_short=False))
    assert all(p.fee_bps == 2.0 and not p.allow_short for p in grid)


@pytest.mark.parametrize(("mapping", "message"), [
    ({"bb_period": [1]}, "bb_period"),
    ({"bb_periods": [10]}, "bb_periods"),
    ({"bb_std": {"start": 1, "stop": 2}}, "bb_std"),
    ({"bb_std": {"start": 2, "stop": 1, "step": 0.5}}, "bb_std"),
    ({"atr_mult": []}, "atr_mult"),
    ({"atr_method": ["wilder", "hull"]}, "atr_method"),
])
def test_invalid_grids_name_the_parameter(mapping, message):
    with pytest.raises(ValueError, match=message):
        Grid(mapping)


def test_digest_changes_with_the_grid_and_is_stable():
    assert Grid().digest() == Grid().digest()
    assert Grid().digest() != Grid({"bb_period": [10]}).digest()


@given(st.lists(st.integers(2, 60), min_size=1, max_size=6),
       st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5]), min_size=1, max_size=4))
def test_size_is_the_product_of_distinct_axis_values(periods, stds):
    grid = Grid({"bb_period": periods, "bb_std": stds})
    assert len(grid) == len(set(periods)) * len(set(stds))
    assert len({(p.bb_period, p.bb_std) for p in grid}) == len(grid)
