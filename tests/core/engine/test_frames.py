"""One price rule for the reference engine and the sweep: finite and > 0, named when broken."""

from __future__ import annotations

import re

import numpy as np
import pytest

from threadx_core.engine import backtest
from threadx_core.sweep import Grid, build
from threadx_core.testing.candles import random_walk_ohlcv


@pytest.mark.parametrize("price", [np.nan, np.inf, 0.0, -1.0])
def test_engine_and_sweep_refuse_the_same_bad_price_naming_column_and_first_bar(price: float) -> None:
    frame = random_walk_ohlcv(50, seed=4)
    frame.iloc[[12, 30], frame.columns.get_loc("low")] = price
    expected = "^" + re.escape(f"ohlcv column 'low' holds a NaN, infinite or non-positive price: "
                               f"{price!r} at bar 12 ({frame.index[12].isoformat()}); prices must "
                               "be finite and > 0") + "$"
    with pytest.raises(ValueError, match=expected):
        backtest(frame)
    with pytest.raises(ValueError, match=expected):
        build(frame, Grid({"bb_period": [5]}))
