"""One line per failure: which asset, symbol and month, and why.

Every asset step works partition by partition (:func:`threadx_pipeline.partitions.step_keys`);
:func:`explained` wraps that work so that whatever goes wrong fails the step with a
``dg.Failure`` whose description is one line — ``<asset> <SYMBOL> <YYYY-MM>: <cause>`` — and whose
metadata holds ``asset``, ``symbol``, ``month`` and ``error`` (the exception's class), as the UI's
step-failure panel and :func:`threadx_pipeline.runs.root_cause` show it. A
:class:`threadx_core.errors.ThreadXError` is a user error whose message is the whole story: it is
reported without a traceback. Any other exception is a bug: it keeps its traceback as the cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from threadx_core.errors import ThreadXError

#: Dagster's own control flow (a failure already explained, a retry, an interruption) passes through.
_PASS_THROUGH = (dg.Failure, dg.RetryRequested, dg.DagsterError)


def describe(asset: str, symbol: str, month: str | None, exc: BaseException) -> str:
    """``<asset> <SYMBOL> [<YYYY-MM>]: <cause>`` on one line; a bug's cause names its class. A
    message that already starts with ``<SYMBOL> [<YYYY-MM>]:`` (as the core's ingest errors do)
    is not prefixed twice."""
    where = symbol if month is None else f"{symbol} {month}"
    message = " ".join(str(exc).split()) or type(exc).__name__
    message = message.removeprefix(f"{where}: ")
    cause = message if isinstance(exc, ThreadXError) else f"{type(exc).__name__}: {message}"
    return f"{asset} {where}: {cause}"


@contextmanager
def explained(asset: str, symbol: str, month: str | None = None) -> Iterator[None]:
    """Fail with a one-line ``dg.Failure`` naming ``asset``, ``symbol`` and ``month`` (``None`` for
    per-symbol assets) if the body raises; ``ThreadXError`` without its traceback."""
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        failure = dg.Failure(
            description=describe(asset, symbol, month, exc),
            metadata={"asset": asset, "symbol": symbol, "month": month or "-", "error": type(exc).__name__},
            allow_retries=False)
        if isinstance(exc, ThreadXError):
            raise failure from None
        raise failure from exc
