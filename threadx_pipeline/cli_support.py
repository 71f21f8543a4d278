"""What every ``threadx`` command shares on its way in and out: argument checks that refuse a
fault in one line, examples for the help, the up-front checks of a range, and how an error is
reported — one line ``threadx: <fault>`` on stderr and exit code 2, never a traceback unless
``--debug`` asks for one (docs/GUIDE.md, "When a command refuses").
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

from threadx_core import storage, times
from threadx_core.errors import ThreadXError

#: Exit code of every refusal and error the command reports itself.
ERROR_EXIT = 2

#: One example per command, shown under its ``--help`` (a command missing here has none: the
#: CLI test requires one for each).
EXAMPLES = {
    "demo": "threadx demo --months 3        # 3 months of synthetic candles, the whole graph, offline",
    "backfill": "threadx backfill --symbols BTCUSDT,ETHUSDT --from 2024-01 --to 2024-06",
    "aggregate": "threadx aggregate --symbols BTCUSDT --first 2024-01 --last 2024-06",
    "migrate": "threadx migrate ~/TradXPro/data --dry-run",
    "bench": "threadx bench sweep",
    "doctor": "threadx doctor --json",
    "universe": "threadx universe",
}


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusals are one line (``threadx <command>: <fault> (see
    --help)``, exit 2) and whose help keeps the examples' line breaks."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # argparse's contract: print and exit, never return
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(ERROR_EXIT)


def describe(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """Give each sub-command's ``--help`` its one-line summary as description and its
    :data:`EXAMPLES` entry as epilog, and ``parser``'s help every example (kept here so that
    commands added to ``cli.py`` stay one parser block each)."""
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        command.description = action.help
        if action.dest in EXAMPLES:
            command.epilog = f"example:\n  {EXAMPLES[action.dest]}"
    parser.epilog = ("examples (each command has its own help: threadx <command> --help):\n"
                     + "\n".join(f"  {EXAMPLES[name]}" for name in sub.choices if name in EXAMPLES))


def version() -> str:
    """The installed ``threadx-pipeline`` distribution's version."""
    return metadata.version("threadx-pipeline")


def positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1 (``threadx demo --months``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def symbols(text: str | None, configured: Iterable[str]) -> list[str]:
    """``--symbols``: ``None`` (the option left out) is every configured symbol; otherwise the
    comma-separated symbols, each configured. Raises ``ValueError`` naming an empty option, an
    empty entry (by position) or the symbols not configured."""
    configured = list(configured)
    if text is None:
        return configured
    if not text.strip():
        raise ValueError("--symbols is empty: name at least one symbol (e.g. --symbols BTCUSDT), "
                         "or leave the option out for every [universe] symbol")
    entries = [entry.strip() for entry in text.split(",")]
    if "" in entries:
        raise ValueError(f"--symbols {text!r}: entry {entries.index('') + 1} is empty "
                         "(two commas in a row, or a comma at an end)")
    unknown = [s for s in entries if s not in configured]
    if unknown:
        raise ValueError(f"symbol(s) {', '.join(unknown)} not in [universe] symbols "
                         f"({', '.join(configured)})")
    return entries


def check_stored(root: Path, symbols: Iterable[str], timeframes: Iterable[str], first: str | None,
                 last: str | None) -> None:
    """Refuse, before any run, a ``threadx aggregate`` range whose ``first`` or ``last`` month is
    not stored for a sweep timeframe of a symbol (or a symbol with no sweep month at all): raises
    ``ValueError`` naming the symbol, the timeframe, the month and what is stored."""
    for symbol in symbols:
        for tf in timeframes:
            folder = storage.symbol_path(root, f"sweep_{tf}", symbol).parent
            stored = sorted(p.stem.removeprefix("month=") for p in folder.glob("month=*.parquet"))
            if not stored:
                raise ValueError(f"{symbol} sweep_{tf}: no month stored under {folder}; "
                                 f"run `threadx backfill --symbols {symbol}` first")
            for edge in (first, last):
                if edge and times.month_label(times.parse_month(edge)) not in stored:
                    raise ValueError(f"{symbol} sweep_{tf}: month {edge} is not stored (stored: "
                                     f"{stored[0]}..{stored[-1]}, {len(stored)} month(s))")


def ensure_warehouse(root: Path) -> None:
    """Create the warehouse root if needed; raises ``ValueError`` naming it when it cannot be
    created or written (before a backfill's runs each fail on it)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"warehouse root {root} cannot be created: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"warehouse root {root} is not writable by this user")


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def guarded(command: Callable[[], int], *, debug: bool) -> int:
    """Run ``command`` and turn an error into one line on stderr and :data:`ERROR_EXIT`: a user
    error (``ThreadXError``, ``ValueError``, ``OSError``, a Dagster error) as its message; any
    other exception as an unexpected error (a bug: the line says so), its traceback printed first
    only under ``debug``. Ctrl-C is ``threadx: interrupted``, exit 130."""
    try:
        return command()
    except KeyboardInterrupt:
        sys.stderr.write("threadx: interrupted\n")
        return 130
    except Exception as exc:  # the last line of defence of a command-line tool
        message = _message(exc)
        if message is None:
            if debug:
                traceback.print_exc()
            hint = "traceback above" if debug else "rerun with --debug for the traceback"
            message = f"unexpected error {type(exc).__name__}: {_one_line(exc)} ({hint}; please report it)"
    sys.stderr.write(f"threadx: {message}\n")
    return ERROR_EXIT


def _message(exc: Exception) -> str | None:
    """The one line of a user error, ``None`` for anything else."""
    # Dagster is imported only by the commands that use it (``--help`` must not pay for it):
    # when it was never imported, no Dagster error can have been raised
    dagster = sys.modules.get("dagster")
    if isinstance(exc, ThreadXError | ValueError) or (dagster and isinstance(exc, dagster.DagsterError)):
        return _one_line(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else _one_line(exc)
    return None
