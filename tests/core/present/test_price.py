"""The price chart of a run: every trade marked, the engine's stop path, 1280 × 720 px, small,
date labels apart."""

import io
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from threadx_core.engine import Params, backtest
from threadx_core.present.price import CANDLE_LIMIT, ENTRY_STYLES, EXIT_STYLES, price_figure, price_png
from threadx_core.testing.candles import fat_tailed_walk

PARAMS = Params(bb_period=10, bb_std=1.0, atr_period=5, atr_mult=1.5, allow_short=True, max_hold_bars=6,
                trailing=False)  # every exit reason on both sizes below


@pytest.fixture(scope="module", params=[400, 1500], ids=["candles", "close"])
def run(request):
    ohlcv = fat_tailed_walk(request.param, seed=4)
    # an evaluated window: the position still open at the last bar closes there, exit "end"
    return ohlcv, backtest(ohlcv, PARAMS, bar_minutes=30, close_at_end=True)


def _by_gid(fig):
    return {artist.get_gid(): artist for artist in fig.axes[0].get_children() if artist.get_gid()}


def test_every_entry_and_exit_is_marked_by_side_and_reason(run):
    ohlcv, result = run
    fig = price_figure(ohlcv, result, "BTCUSDT 2024-03 30m")
    artists, trades = _by_gid(fig), result.trades
    for side in ENTRY_STYLES:
        points = artists[f"entry:{side}"].get_offsets()
        mine = trades[trades["side"] == side]
        assert len(points) == len(mine) > 0
        np.testing.assert_array_equal(points[:, 1], mine["entry_price"])
    for reason in EXIT_STYLES:
        points = artists[f"exit:{reason}"].get_offsets()
        assert len(points) == (trades["exit_reason"] == reason).sum() > 0, reason
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    names = {text.rsplit(" (", 1)[0] for text in legend}
    assert {f"exit {reason.replace('_', ' ')}" for reason in EXIT_STYLES} <= names
    assert ("candles" in legend) == (len(ohlcv) <= CANDLE_LIMIT)
    plt.close(fig)


def test_the_stop_path_drawn_is_the_engine_stop(run):
    ohlcv, result = run
    fig = price_figure(ohlcv, result, "t")
    drawn = _by_gid(fig)["stop"].get_ydata()
    np.testing.assert_array_equal(drawn, result.stop.to_numpy())
    assert np.isfinite(drawn).sum() > 0
    plt.close(fig)


def test_the_png_is_1280_by_720_and_small(run):
    png = price_png(*run, "BTCUSDT 2024-03 30m")
    assert Image.open(io.BytesIO(png)).size == (1280, 720)
    assert len(png) < 200_000


def test_date_labels_do_not_overlap(run):
    fig = price_figure(*run, "t")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [label.get_window_extent(renderer) for label in ax.get_xticklabels() if label.get_text()]
    assert len(boxes) >= 4
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    offset = ax.xaxis.get_offset_text()
    if offset.get_text():
        assert not any(offset.get_window_extent(renderer).overlaps(box) for box in boxes)
    plt.close(fig)
