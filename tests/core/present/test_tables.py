"""Markdown tables and JSON-ready values."""

import json
import math

import numpy as np
import pandas as pd

from threadx_core.present.tables import PARAM_DISPLAY_COLUMNS, json_ready, markdown_table, ranking_table


def test_json_ready_gives_strict_json_with_null_for_non_finite_numbers():
    value = {"a": np.int64(3), "b": (np.float64(1.5), math.inf, np.nan), "c": np.bool_(True),
             "d": pd.Timestamp("2024-01-01", tz="UTC"), 4: None}
    ready = json_ready(value)
    assert ready == {"a": 3, "b": [1.5, None, None], "c": True, "d": "2024-01-01 00:00:00+00:00", "4": None}
    json.dumps(ready, allow_nan=False)


def test_markdown_tables_keep_the_label_and_round_floats():
    table = pd.DataFrame({"run": ["x"], "sharpe": [1.234567], "n_trades": [3], "other": [0.0]})
    assert markdown_table(table, ("run", "sharpe", "n_trades")) == (
        "| run | sharpe | n_trades |\n|---|---|---|\n| x | 1.235 | 3 |")


def test_a_ranking_table_shows_each_column_once():
    ranked = pd.DataFrame({"rank": [1], **{c: [1] for c in PARAM_DISPLAY_COLUMNS}, "sharpe": [0.5],
                           "total_return": [0.1]})
    header = ranking_table(ranked, "sharpe", ("sharpe", "total_return")).splitlines()[0]
    assert header == "| " + " | ".join(("rank", *PARAM_DISPLAY_COLUMNS, "sharpe", "total_return")) + " |"
