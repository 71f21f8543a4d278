"""Importing legacy candle files into raw_1m partitions (docs/GUIDE.md, Migrating legacy data).

:func:`migrate` walks ``SRC`` (``threadx_core.data.legacy`` finds and normalises each file) and,
file by file, 1-minute files first:

- a file whose SHA-256 the manifest records as imported is skipped unread (``force`` reads
  every file again);
- a 1m file is split into calendar months (UTC); each month is validated with the raw_1m schema
  and compared with the stored partition: none stored → imported; equal → skipped (identical);
  different → a *conflict*, reported and left as stored unless ``force`` (then overwritten). A
  month before the first partition month or after the current one is refused. Each import is one
  atomic partition write (``storage.write_partition``) and is announced to ``on_written``;
- a coarser file (15m, 1h, …) is never imported: each of its bars is compared with the resample of
  the 1m truth (what is stored, or imported by this run) and the mismatches are reported;
- a file all of whose months were imported or identical has its hash added to the manifest, an
  atomic JSON file; ``dry_run`` reads and decides everything and writes nothing.

Files are handled one after the other, so the JSON and Parquet twins of one legacy series meet as
"identical" (or as a conflict), never as two writers of one partition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from threadx_core import storage, times
from threadx_core.data import legacy
from threadx_core.data.resample import resample
from threadx_core.errors import ThreadXError
from threadx_core.schema import PRICE_COLUMNS, RAW_1M_COLUMNS, validate_raw_1m

#: Relative tolerance of a coarser legacy bar against the resampled truth (float sums regroup).
RTOL = 1e-9
#: Mismatching bars named in a file's report (the count covers them all).
SHOWN = 5


NOT_A_CANDLE_FILE = "the name is not SYMBOL_TF (e.g. BTCUSDT_1m.json)"
#: Marks a stored partition that could not be read (always a conflict).
_CORRUPT = pd.DataFrame()


class MigrationError(ThreadXError, ValueError):
    """The migration as a whole cannot start (e.g. ``SRC`` missing); the message names it."""


@dataclass
class PartitionOutcome:
    """What became of one month of a 1m file: ``action`` is ``imported``, ``overwritten``
    (a conflict replaced under ``force``), ``identical`` (skipped), ``conflict`` (left as
    stored) or ``refused`` (``detail`` says why)."""

    month: str
    action: str
    rows: int
    detail: str = ""


@dataclass
class FileReport:
    """One file's counts. ``status``: ``imported``, ``up to date`` (every month identical),
    ``already imported`` (hash in the manifest), ``needs attention`` (a conflict or refusal in
    some month), ``checked`` (a coarser file compared with the truth), ``refused`` or ``ignored``
    (not a candle file's name)."""

    file: str
    status: str
    symbol: str = ""
    timeframe: str = ""
    sha256: str = ""
    rows_read: int = 0
    duplicates: int = 0
    time_source: str = ""
    units: dict[str, int] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    zero_filled: list[str] = field(default_factory=list)
    partitions: list[PartitionOutcome] = field(default_factory=list)
    check: dict[str, object] = field(default_factory=dict)
    error: str = ""

    def count(self, *actions: str) -> int:
        return sum(p.action in actions for p in self.partitions)

    def line(self) -> str:
        """The file's one line of the report."""
        if self.status in ("refused", "ignored"):
            return f"{self.file}: {self.status}: {self.error}"
        if self.status == "already imported":
            return f"{self.file}: already imported (sha256 {self.sha256[:12]}, recorded in the manifest)"
        units = ", ".join(f"{u} ({n})" for u, n in self.units.items())
        head = (f"{self.file}: {self.symbol} {self.timeframe}, {self.rows_read} rows read (time: "
                f"{self.time_source}, unit {units}), {self.duplicates} duplicate minute(s) (last kept)")
        if self.unknown_columns:
            head += f", unknown columns not imported: {', '.join(self.unknown_columns)}"
        if self.zero_filled:
            head += f", absent and stored as 0: {', '.join(self.zero_filled)}"
        if self.check:
            c = self.check
            tail = (f"checked against the 1m truth, not imported: {c['compared']} of {c['bars']} bars "
                    f"compared, {c['mismatched']} mismatch(es), {c['without_truth']} without 1m truth")
            if c["first_mismatches"]:
                tail += f" (first: {'; '.join(c['first_mismatches'])})"
            return f"{head}; {tail}"
        months = "; ".join(f"{p.month} {p.action} {p.rows} rows" + (f" ({p.detail})" if p.detail else "")
                           for p in self.partitions)
        return f"{head}; {months}"


@dataclass
class MigrationReport:
    """Every file's :class:`FileReport`, and whether this run wrote anything."""

    src: str
    dry_run: bool
    force: bool
    files: list[FileReport]

    def totals(self) -> dict[str, int]:
        f = self.files
        return {
            "files": len(f),
            "imported": sum(r.count("imported", "overwritten") for r in f),
            "overwritten": sum(r.count("overwritten") for r in f),
            "identical": sum(r.count("identical") for r in f),
            "already_imported_files": sum(r.status == "already imported" for r in f),
            "conflicts": sum(r.count("conflict") for r in f),
            "refused": sum(r.count("refused") for r in f) + sum(r.status == "refused" for r in f),
            "ignored_files": sum(r.status == "ignored" for r in f),
            "checked_files": sum(bool(r.check) for r in f),
            "mismatched_bars": sum(int(r.check.get("mismatched", 0)) for r in f),
        }

    @property
    def needs_attention(self) -> bool:
        """A conflict, a refusal or a mismatch: something a person must look at."""
        t = self.totals()
        return bool(t["conflicts"] or t["refused"] or t["mismatched_bars"])

    def summary(self) -> str:
        t = self.totals()
        verb = "would be imported (dry run: nothing written)" if self.dry_run else "imported"
        if t["imported"] == 0 and not self.dry_run:
            verb = "imported: nothing to import"
        forced = f" ({t['overwritten']} overwritten by --force)" if t["overwritten"] else ""
        return (f"{t['files']} file(s): {t['imported']} partition(s) {verb}{forced}, "
                f"{t['identical']} skipped as identical, {t['already_imported_files']} file(s) already "
                f"imported, {t['conflicts']} conflict(s) not overwritten, {t['refused']} refused, "
                f"{t['checked_files']} coarser file(s) checked ({t['mismatched_bars']} mismatching bar(s)), "
                f"{t['ignored_files']} ignored")

    def lines(self) -> list[str]:
        return [r.line() for r in self.files] + [self.summary()]

    def to_dict(self) -> dict[str, object]:
        return {"src": self.src, "dry_run": self.dry_run, "force": self.force, "totals": self.totals(),
                "needs_attention": self.needs_attention, "lines": self.lines(),
                "files": [asdict(r) for r in self.files]}


@dataclass(frozen=True)
class Imported:
    """A partition this run wrote: ``on_written``'s argument."""

    symbol: str
    month: str
    path: Path
    frame: pd.DataFrame
    bytes_written: int
    file: FileReport


@dataclass
class _Store:
    """The raw_1m partitions as this run sees them: stored files, then what it imported (or, in a
    dry run, would have)."""

    path_of: Callable[[str, str], Path]
    planned: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def get(self, symbol: str, month: str) -> pd.DataFrame | None:
        if (symbol, month) in self.planned:
            return self.planned[(symbol, month)]
        path = self.path_of(symbol, month)
        return storage.read_partition(path) if path.exists() else None


def migrate(src: Path, *, partition_path: Callable[[str, str], Path], manifest: Path, first_month: str,
            now: pd.Timestamp, force: bool = False, dry_run: bool = False,
            on_written: Callable[[Imported], None] = lambda imported: None) -> MigrationReport:
    """Import the legacy files under ``src`` (module docstring). ``partition_path(symbol, month)``
    is raw_1m's file of a partition, ``manifest`` the JSON file of imported hashes, ``first_month``
    the first month partition. Raises :class:`MigrationError` when ``src`` is not a folder; every
    problem of a file or a month is reported in its :class:`FileReport` instead."""
    if not src.is_dir():
        raise MigrationError(f"migrate: SRC {src} is not a folder")
    recorded = _load_manifest(manifest)
    store, reports, ones, coarser = _Store(partition_path), [], [], []
    for path in legacy.discover(src):
        rel = str(path.relative_to(src))
        if legacy.parse_name(path) is None:
            reports.append(FileReport(rel, "ignored", error=NOT_A_CANDLE_FILE))
            continue
        try:
            name = legacy.checked_name(path)
        except legacy.LegacyFileError as exc:
            reports.append(FileReport(rel, "refused", error=str(exc)))
            continue
        (ones if name.timeframe == "1m" else coarser).append((path, rel))
    new_hashes = {}
    for path, rel in ones:
        digest = legacy.sha256(path)
        if digest in recorded and not force:
            reports.append(FileReport(rel, "already imported", sha256=digest))
            continue
        report = _import_file(path, rel, store, first_month, now, force, dry_run, on_written)
        reports.append(report)
        if report.status in ("imported", "up to date"):
            new_hashes[report.sha256] = {"file": rel, "symbol": report.symbol,
                                         "months": [p.month for p in report.partitions],
                                         "imported_at": now.isoformat()}
    for path, rel in coarser:
        reports.append(_check_file(path, rel, store, now))
    if new_hashes and not dry_run:
        text = json.dumps({**recorded, **new_hashes}, indent=1, sort_keys=True)
        storage.write_bytes(text.encode(), manifest)
    return MigrationReport(str(src), dry_run, force, reports)


def _load_manifest(manifest: Path) -> dict[str, dict]:
    if not manifest.exists():
        return {}
    try:
        return dict(json.loads(manifest.read_text()))
    except (ValueError, TypeError) as exc:  # never reset: that would import every file again
        raise MigrationError(f"migrate: manifest {manifest} is not a JSON object ({exc}); "
                             "repair or delete it") from None


def _read(path: Path, rel: str, now: pd.Timestamp) -> tuple[legacy.LegacyFrame | None, FileReport]:
    try:
        lf = legacy.read(path, now)
    except legacy.LegacyFileError as exc:
        return None, FileReport(rel, "refused", error=str(exc))
    return lf, FileReport(rel, "", lf.symbol, lf.timeframe, lf.sha256, lf.rows_read, lf.duplicates,
                          lf.time_source, lf.units, lf.unknown_columns, lf.zero_filled)


def _months(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    labels = frame["open_time"].dt.strftime("%Y-%m")
    return {m: part.reset_index(drop=True) for m, part in frame.groupby(labels, sort=True)}


def _import_file(path: Path, rel: str, store: _Store, first_month: str, now: pd.Timestamp, force: bool,
                 dry_run: bool, on_written: Callable[[Imported], None]) -> FileReport:
    lf, report = _read(path, rel, now)
    if lf is None:
        return report
    current = times.month_label(now)
    for month, part in _months(lf.frame).items():
        outcome = PartitionOutcome(month, "", len(part))
        report.partitions.append(outcome)
        if not first_month <= month <= current:
            outcome.action = "refused"
            outcome.detail = f"outside the month partitions {first_month}..{current}"
            continue
        try:
            frame = validate_raw_1m(part, f"{path} {month}")
        except ValueError as exc:
            outcome.action, outcome.detail = "refused", " ".join(str(exc).split())
            continue
        end = times.month_bounds(month)[1]
        frame.attrs = {"source": f"migrate {rel}", "source_sha256": lf.sha256,
                       "fetched_through": min(frame["open_time"].iloc[-1] + pd.Timedelta(minutes=1),
                                              end).isoformat()}
        try:
            stored = store.get(lf.symbol, month)
        except storage.CorruptPartitionError as exc:
            stored, outcome.detail = _CORRUPT, str(exc)
        if stored is None:
            outcome.action = "imported"
        elif stored is not _CORRUPT and _same(stored, frame):
            outcome.action = "identical"
            continue
        else:
            outcome.detail = outcome.detail or _difference(stored, frame)
            outcome.action = "overwritten" if force else "conflict"
            if not force:
                outcome.detail += "; not overwritten (--force replaces it)"
                continue
        store.planned[(lf.symbol, month)] = frame
        if not dry_run:
            target = store.path_of(lf.symbol, month)
            written = storage.write_partition(frame, target)
            on_written(Imported(lf.symbol, month, target, frame, written, report))
    if any(p.action in ("conflict", "refused") for p in report.partitions):
        report.status = "needs attention"
    else:
        report.status = "imported" if report.count("imported", "overwritten") else "up to date"
    return report


def _same(stored: pd.DataFrame, frame: pd.DataFrame) -> bool:
    columns = list(RAW_1M_COLUMNS)
    return list(stored.columns) == columns and stored[columns].reset_index(drop=True).equals(frame[columns])


def _difference(stored: pd.DataFrame, frame: pd.DataFrame) -> str:
    """How a stored partition differs from the incoming one, in minutes."""
    old = stored.set_index("open_time")
    new = frame.set_index("open_time")
    common = old.index.intersection(new.index)
    columns = [c for c in RAW_1M_COLUMNS[1:] if c in old.columns]
    differing = int((old.loc[common, columns] != new.loc[common, columns]).any(axis=1).sum())
    return (f"stored partition differs: {len(old)} rows stored, {len(new)} in the file, {differing} of "
            f"{len(common)} common minutes differ, {len(old.index.difference(new.index))} only stored, "
            f"{len(new.index.difference(old.index))} only in the file")


def _check_file(path: Path, rel: str, store: _Store, now: pd.Timestamp) -> FileReport:
    lf, report = _read(path, rel, now)
    if lf is None:
        return report
    compared = mismatched = without = 0
    shown: list[str] = []
    columns = [c for c in (*PRICE_COLUMNS, "volume", "quote_volume", "trades", "taker_buy_base",
                           "taker_buy_quote") if c not in lf.zero_filled]
    for month, bars in _months(lf.frame).items():
        truth = store.get(lf.symbol, month)
        if truth is None or truth.empty:
            without += len(bars)
            continue
        expected = resample(truth, lf.timeframe).set_index("open_time")
        got = bars.set_index("open_time")
        common = got.index.intersection(expected.index)
        without += len(got) - len(common)
        compared += len(common)
        a = got.loc[common, columns].to_numpy(np.float64)
        b = expected.loc[common, columns].to_numpy(np.float64)
        bad = ~np.isclose(a, b, rtol=RTOL, atol=0.0)
        for row in np.flatnonzero(bad.any(axis=1)):
            mismatched += 1
            if len(shown) < SHOWN:
                values = [f"{columns[j]} {a[row, j]:g} vs {b[row, j]:g}" for j in np.flatnonzero(bad[row])]
                shown.append(f"{common[row].isoformat()} {', '.join(values)} (file vs 1m truth)")
    report.status = "checked"
    report.check = {"bars": len(lf.frame), "compared": compared, "mismatched": mismatched,
                    "without_truth": without, "first_mismatches": shown}
    return report
