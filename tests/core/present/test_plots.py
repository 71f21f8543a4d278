"""The equity/drawdown chart's date axis stays readable at its 640 × 360 size."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pandas as pd
import pytest

from threadx_core.present.plots import equity_drawdown_figure, equity_drawdown_png

DPI = 80  # the default of equity_drawdown_png: 8 × 4.5 in → 640 × 360 px


def curve(span: str, freq: str) -> pd.Series:
    index = pd.date_range("2024-01-01", end=pd.Timestamp("2024-01-01") + pd.Timedelta(span),
                          freq=freq, tz="UTC", inclusive="left")
    return pd.Series(1000.0 + np.cumsum(np.random.default_rng(7).normal(size=len(index))), index)


@pytest.mark.parametrize(("span", "freq"), [("1D", "1min"), ("31D", "1h"), ("92D", "1h"),
                                            ("730D", "1D")])
def test_date_labels_do_not_overlap_at_640_by_360(span: str, freq: str) -> None:
    equity = curve(span, freq)
    fig = equity_drawdown_figure({"a": equity, "b": equity * 1.01}, "BTCUSDT 2024-01")
    fig.set_dpi(DPI)
    fig.tight_layout()  # as equity_drawdown_png lays it out
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert tuple(fig.get_size_inches() * DPI) == (640, 360)
    labels = [text for ax in fig.axes for text in (*ax.get_xticklabels(), ax.xaxis.get_offset_text())
              if text.get_visible() and text.get_text()]
    assert len(labels) >= 3
    boxes = {text.get_text() + f"@{i}": text.get_window_extent(renderer) for i, text in enumerate(labels)}
    colliding = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2)
                 if box_a.overlaps(box_b)]
    assert colliding == []


def test_the_png_is_640_by_360() -> None:
    png = equity_drawdown_png({"a": curve("31D", "1h")}, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (640, 360)
