"""What a doctor check says and how the report is shown (docs/GUIDE.md, Checking the environment).

Every check of ``threadx doctor`` is a :class:`Check`: a name, a :class:`Status` and a one-line
detail. The report is a table, or JSON; its exit code is 0 when every check is ok, 1 when the
worst is a warning, 2 when any is an error (:func:`exit_code`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass

#: Bytes in a GiB, the unit of the disk and GPU memory details.
GIB = 1024**3


class Status(enum.Enum):
    """A check's outcome, in increasing order of gravity (its ``rank`` is the exit code it
    asks for)."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 ok, 1 warning, 2 error."""
        return list(Status).index(self)


@dataclass(frozen=True)
class Check:
    """One line of the report: ``name`` (what was checked, e.g. ``numpy``, ``gpu:0``),
    ``status`` and ``detail`` (one line a person can act on)."""

    name: str
    status: Status
    detail: str

    @classmethod
    def ok(cls, name: str, detail: str) -> Check:
        return cls(name, Status.OK, detail)

    @classmethod
    def warning(cls, name: str, detail: str) -> Check:
        return cls(name, Status.WARNING, detail)

    @classmethod
    def error(cls, name: str, detail: str) -> Check:
        return cls(name, Status.ERROR, detail)


def one_line(text: object, limit: int = 160) -> str:
    """``text`` (an exception's message, say) on one line, cut at ``limit`` characters: a
    detail stays one line however long the cause (urllib3's and SQLAlchemy's are long)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def exit_code(checks: Sequence[Check]) -> int:
    """0 when every check is ok (or there is none), 1 when the worst is a warning, 2 with any
    error."""
    return max((c.status.rank for c in checks), default=0)


def table(checks: Sequence[Check]) -> str:
    """The report as a text table (status, check, detail), then a summary line."""
    width = max([len("check"), *(len(c.name) for c in checks)])
    lines = [f"{'status':<8} {'check':<{width}}  detail"]
    lines += [f"{c.status.value:<8} {c.name:<{width}}  {c.detail}" for c in checks]
    return "\n".join([*lines, _summary(checks)])


def to_json(checks: Sequence[Check]) -> str:
    """The report as JSON: ``{"checks": [{"name", "status", "detail"}], "counts": {status: n},
    "exit_code": n}``."""
    return json.dumps({
        "checks": [{"name": c.name, "status": c.status.value, "detail": c.detail} for c in checks],
        "counts": {s.value: sum(c.status is s for c in checks) for s in Status},
        "exit_code": exit_code(checks),
    }, indent=2)


def _summary(checks: Sequence[Check]) -> str:
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    return (f"{counts[Status.OK]} ok, {counts[Status.WARNING]} warning(s), "
            f"{counts[Status.ERROR]} error(s): exit {exit_code(checks)}")
