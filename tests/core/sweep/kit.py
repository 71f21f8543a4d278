"""Hypothesis strategies shared by the sweep kernels' tests: base parameters and grid axes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from threadx_core.engine import Params

#: Base parameters of a grid: every field the grid axes do not vary, drawn over its range.
base_params = st.builds(
    Params, atr_method=st.sampled_from(["wilder", "ema", "sma"]), trailing=st.booleans(),
    take_profit=st.sampled_from(["mid", "none"]), max_hold_bars=st.integers(0, 6),
    allow_short=st.booleans(), risk_per_trade=st.floats(0.005, 0.5), leverage=st.floats(0.5, 5.0),
    fee_bps=st.floats(0.0, 30.0), slippage_bps=st.floats(0.0, 20.0),
    fill=st.sampled_from(["next_open", "close"]),
)


def grid_axes(values: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Grid mappings of band, ATR and fill axes, 1 to ``values`` values per axis."""
    def axis(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
        return st.lists(elements, min_size=1, max_size=values, unique=True)

    return st.fixed_dictionaries({
        "bb_period": axis(st.integers(2, 12)), "bb_std": axis(st.floats(0.5, 2.5)),
        "atr_period": axis(st.integers(1, 8)), "atr_mult": axis(st.floats(0.5, 3.0)),
        "fill": st.sampled_from([["next_open"], ["close"], ["next_open", "close"]]),
    })
