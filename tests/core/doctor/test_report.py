"""The report: exit code from the worst status, the table and the JSON."""

from __future__ import annotations

import json

from threadx_core.doctor import Check, exit_code, table, to_json

OK, WARN, ERR = Check.ok("a", "fine"), Check.warning("bb", "look"), Check.error("c", "broken")


def test_exit_code_is_the_worst_status():
    assert [exit_code(c) for c in ([], [OK], [OK, WARN], [WARN, ERR, OK])] == [0, 0, 1, 2]


def test_table_and_json_show_every_check():
    assert table([OK, ERR]).splitlines() == [
        "status   check  detail", "ok       a      fine", "error    c      broken",
        "1 ok, 0 warning(s), 1 error(s): exit 2"]
    report = json.loads(to_json([OK, WARN]))
    assert report["checks"][1] == {"name": "bb", "status": "warning", "detail": "look"}
    assert report["counts"] == {"ok": 1, "warning": 1, "error": 0} and report["exit_code"] == 1
