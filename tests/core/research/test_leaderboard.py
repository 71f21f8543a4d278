"""The leaderboard across symbols: one row per symbol × timeframe from the stored reports, ranked by
deflated Sharpe then out-of-sample Sharpe, parameter stability, missing reports with their reason,
the selection's full-period figures, and its chart."""

import math

import pandas as pd
import pytest

from threadx_core.engine import Params
from threadx_core.present.plots import leaderboard_png
from threadx_core.research.leaderboard import COLUMNS, leaderboard, stability


def steps(tf: str, combos: list[int], periods: list[int] | None = None) -> pd.DataFrame:
    """Walk-forward steps of ``tf`` (in-sample one month, out of sample the next), from 2024-02."""
    periods = periods or [10 + c for c in combos]
    months = [f"2024-{m:02d}" for m in range(1, len(combos) + 2)]
    chosen = enumerate(zip(combos, periods, strict=True))
    return pd.DataFrame([{"in_sample_first": months[i], "in_sample_last": months[i],
                          "out_of_sample": months[i + 1], "combo": c, "timeframe": tf,
                          **Params(bb_period=p).to_dict()} for i, (c, p) in chosen])


def document(walk: pd.DataFrame, *, dsr: float | None, sharpe: float | None, total: float = 0.1) -> dict:
    """The ``<tf>_selection.json`` a walk-forward exports (non-finite numbers as ``null``)."""
    return {"selection": walk.iloc[-1].to_dict(),
            "statistics": {"deflated_sharpe": dsr, "pbo": 0.25, "out_of_sample_sharpe": sharpe,
                           "out_of_sample_total_return": total},
            "bootstrap": {"sharpe": {"estimate": sharpe, "low": -1.0, "high": 2.0},
                          "total_return": {"estimate": total, "low": -0.2, "high": 0.3}}}


def test_rows_rank_by_deflated_then_out_of_sample_sharpe_and_missing_reports_follow_with_reasons():
    a, b, c = steps("1h", [0, 0]), steps("1h", [1, 1]), steps("1h", [2, 2])
    walks = {"AAAUSDT": a, "BBBUSDT": b, "CCCUSDT": c, "DDDUSDT": pd.concat([steps("4h", [0, 0])]),
             "EEEUSDT": None}
    documents = {("AAAUSDT", "1h"): document(a, dsr=0.4, sharpe=1.0),
                 ("BBBUSDT", "1h"): document(b, dsr=0.4, sharpe=2.0),  # same DSR, better OOS Sharpe
                 ("CCCUSDT", "1h"): document(c, dsr=None, sharpe=5.0),  # DSR not computable: last
                 ("DDDUSDT", "4h"): document(walks["DDDUSDT"], dsr=0.9, sharpe=0.5)}
    board = leaderboard(list(walks), ["1h", "4h"], walks, documents, {}, in_sample_months=3)
    assert tuple(board.columns) == COLUMNS and len(board) == 10  # every symbol × timeframe, none dropped
    ranked = board[board["reason"] == ""]
    assert list(zip(ranked["symbol"], ranked["timeframe"], strict=True)) == [
        ("DDDUSDT", "4h"), ("BBBUSDT", "1h"), ("AAAUSDT", "1h"), ("CCCUSDT", "1h")]
    assert list(ranked["rank"]) == [1, 2, 3, 4] and board["rank"].iloc[4:].isna().all()
    reasons = {(r.symbol, r.timeframe): r.reason for r in board.iloc[4:].itertuples()}
    assert reasons[("EEEUSDT", "1h")] == "walk_forward of EEEUSDT not materialised"
    assert "in_sample_months = 3" in reasons[("AAAUSDT", "4h")]
    assert "in_sample_months = 3" in reasons[("DDDUSDT", "1h")]
    row = ranked.iloc[1]
    assert (row["selection"], row["bb_period"], row["pbo"], row["oos_sharpe_low"]) == (
        "1h bb11×2 atr14w×1.5", 11, 0.25, -1.0)
    assert (row["first_month"], row["last_month"], row["oos_months"], row["months"]) == (
        "2024-01", "2024-03", 2, 3)


def test_a_walk_forward_without_its_export_says_so():
    walk = steps("1h", [0, 1])
    board = leaderboard(["AAAUSDT"], ["1h"], {"AAAUSDT": walk}, {}, {}, in_sample_months=1)
    assert board["reason"].iloc[0] == "1h_selection.json of AAAUSDT missing: re-materialise walk_forward"


def test_stability_is_the_share_of_months_choosing_the_latest_selection():
    assert stability(steps("1h", [3, 1, 3, 3])) == 0.75
    assert math.isnan(stability(steps("1h", [3, -1])))  # the latest step stayed in cash
    cash = steps("1h", [2, -1], periods=[12, 20])
    cash.loc[1, ["bb_period"]] = None
    board = leaderboard(["AAAUSDT"], ["1h"], {"AAAUSDT": cash},
                        {("AAAUSDT", "1h"): document(cash, dsr=0.1, sharpe=0.0)}, {}, in_sample_months=1)
    assert board["selection"].iloc[0] == "cash" and math.isnan(board["stability"].iloc[0])


def test_the_selections_full_period_figures_come_from_the_latest_chain():
    walk = steps("1h", [0, 1])
    rows = [{"timeframe": "1h", "first": first, "last": last, **Params(bb_period=p).to_dict(),
             "total_return": ret, "sharpe": 1.5, "max_drawdown": -0.1, "n_trades": 7}
            for first, last, p, ret in (("2024-01", "2024-01", 11, 9.0), ("2024-03", "2024-04", 10, 8.0),
                                        ("2024-03", "2024-04", 11, 0.2))]
    full = pd.DataFrame(rows)
    board = leaderboard(["AAAUSDT"], ["1h"], {"AAAUSDT": walk},
                        {("AAAUSDT", "1h"): document(walk, dsr=0.5, sharpe=1.0)}, {"AAAUSDT": full},
                        in_sample_months=1)
    row = board.iloc[0]
    assert (row["full_period_first"], row["full_period_last"], row["full_period_return"],
            row["full_period_trades"]) == ("2024-03", "2024-04", 0.2, 7)
    other = leaderboard(["AAAUSDT"], ["1h"], {"AAAUSDT": walk},
                        {("AAAUSDT", "1h"): document(walk, dsr=0.5, sharpe=1.0)},
                        {"AAAUSDT": full[full["bb_period"] == 10]}, in_sample_months=1)
    assert math.isnan(other["full_period_return"].iloc[0])  # the chain does not hold the selection


@pytest.mark.parametrize("symbols", [1, 12])
def test_the_chart_is_a_small_png_with_a_line_per_row(symbols):
    names = [f"S{i:02d}USDT" for i in range(symbols)]
    walks = {s: steps("1h", [0, 0]) for s in names}
    documents = {(s, "1h"): document(walks[s], dsr=i / 12, sharpe=i - 3.0) for i, s in enumerate(names)}
    board = leaderboard(names, ["1h", "4h"], walks, documents, {}, in_sample_months=1)
    png = leaderboard_png(board, "leaderboard")
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
