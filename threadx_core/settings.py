"""The app's settings: ``threadx.toml``, loaded and validated (docs/ARCHITECTURE.md, Settings).

TOML is the only configuration channel for ThreadX's own settings. Every section is optional
and has defaults; unknown sections or keys, wrong types and out-of-range values raise
``SettingsError`` naming the file, the ``[section] key`` and what was expected. Relative paths are
resolved against the folder of the TOML file, never the process's working directory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadx_core import times
from threadx_core.engine.params import Params
from threadx_core.errors import ThreadXError
from threadx_core.sweep import devices
from threadx_core.sweep.grid import DEFAULT_MAX_COMBINATIONS
from threadx_core.sweep.grid import Grid as SweepGrid
from threadx_core.symbols import check_symbol

SOURCES = ("synthetic", "binance", "binance_vision")
EXECUTORS = ("multiprocess", "in_process", "celery")
GAP_POLICIES = ("none", "flat")


class SettingsError(ThreadXError, ValueError):
    """A settings file is unreadable or holds an unknown key or a bad value."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class Warehouse:
    """Where assets are stored: ``<root>/<asset>/symbol=<S>/month=<YYYY-MM>.parquet``."""

    root: Path = Path("data/warehouse")


UNIVERSE_MODES = ("static", "universe")


@dataclass(frozen=True)
class Universe:
    """Which symbols are partitions, and the first month partition (UTC).

    ``mode``: ``static`` (the default) tops up the ``symbols`` list; ``universe`` tops up the
    members of the last ``universe`` materialisation (docs/GUIDE.md, The symbol universe): the
    ``size`` best-scored of the ``candidates`` best CoinGecko market caps (at ``coingecko_url``)
    tradable on Binance against ``quote_asset``, plus what ``category_minimums`` (category key →
    members, overriding the category table's) asks for."""

    symbols: tuple[str, ...] = ("BTCUSDT",)
    start_month: str = "2024-01"
    mode: str = "static"
    size: int = 50
    quote_asset: str = "USDT"
    candidates: int = 250
    category_minimums: dict[str, int] = field(default_factory=dict)
    coingecko_url: str = "https://api.coingecko.com"

    def check(self) -> None:
        from threadx_core.universe import categories

        _require(self.mode in UNIVERSE_MODES, f"mode: {self.mode!r} is not one of {UNIVERSE_MODES}")
        _require(self.size >= 1, "size: must be >= 1")
        _require(self.candidates >= self.size, f"candidates: must be >= size ({self.size})")
        _require(self.quote_asset.isascii() and self.quote_asset.isalnum() and self.quote_asset.isupper(),
                 f"quote_asset: {self.quote_asset!r} must be an upper-case asset such as USDT or USDC")
        _require(self.coingecko_url.startswith(("http://", "https://")),
                 f"coingecko_url: {self.coingecko_url!r} is not an http(s) URL")
        _require(all(isinstance(n, int) and not isinstance(n, bool) for n in self.category_minimums.values()),
                 "category_minimums: each value must be an integer")
        categories.load().minimums(self.category_minimums)
        _require(len(self.symbols) > 0, "symbols: at least one symbol is needed")
        for symbol in self.symbols:
            try:
                check_symbol(symbol)
            except ValueError as exc:
                raise ValueError(f"symbols: {exc}") from None
        _require(len(set(self.symbols)) == len(self.symbols), "symbols: duplicates")
        try:
            times.parse_month(self.start_month)
        except ValueError as exc:
            raise ValueError(f"start_month: {exc}") from None


@dataclass(frozen=True)
class Source:
    """Where 1-minute candles come from; ``seed`` and ``gap_probability`` drive ``synthetic``."""

    kind: str = "synthetic"
    seed: int = 0
    gap_probability: float = 0.0

    def check(self) -> None:
        _require(self.kind in SOURCES, f"kind: {self.kind!r} is not one of {SOURCES}")
        _require(0.0 <= self.gap_probability < 1.0, "gap_probability: must be in [0, 1)")


@dataclass(frozen=True)
class Binance:
    """Binance endpoints, request-weight budget, retries and time-outs (seconds); ``state_dir``
    holds the IP's weight and ban record shared by every run (``None``: ``<warehouse>/.binance``);
    ``ban_default_s`` is the ban assumed after an HTTP 418 without ``Retry-After``."""

    rest_url: str = "https://api.binance.com"
    vision_url: str = "https://data.binance.vision"
    weight_limit: int = 6000
    weight_headroom: float = 0.9
    max_retries: int = 5
    timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    state_dir: Path | None = None
    ban_default_s: float = 300.0

    def check(self) -> None:
        for name in ("rest_url", "vision_url"):
            url = getattr(self, name)
            _require(url.startswith(("http://", "https://")), f"{name}: {url!r} is not an http(s) URL")
        _require(self.weight_limit > 0, "weight_limit: must be > 0")
        _require(0.0 < self.weight_headroom <= 1.0, "weight_headroom: must be in (0, 1]")
        _require(self.max_retries >= 0, "max_retries: must be >= 0")
        for name in ("timeout_s", "backoff_base_s", "backoff_max_s", "ban_default_s"):
            _require(getattr(self, name) > 0, f"{name}: must be > 0")


@dataclass(frozen=True)
class Gaps:
    """Gap policy (``none`` or ``flat`` up to ``max_fill_minutes``) and the completeness warning."""

    fill: str = "none"
    max_fill_minutes: int = 5
    completeness_warn: float = 0.99

    def check(self) -> None:
        _require(self.fill in GAP_POLICIES, f"fill: {self.fill!r} is not one of {GAP_POLICIES}")
        _require(self.max_fill_minutes >= 1, "max_fill_minutes: must be >= 1")
        _require(0.0 <= self.completeness_warn <= 1.0, "completeness_warn: must be in [0, 1]")


@dataclass(frozen=True)
class Timeframes:
    """Timeframes derived from 1-minute candles (each must divide a UTC day), and those of them
    that get indicator caches, sweeps and reports."""

    derive: tuple[str, ...] = times.DERIVED
    sweep: tuple[str, ...] = ("15m", "1h")

    def check(self) -> None:
        for tf in self.derive:
            try:
                size = times.tf_minutes(tf)
            except ValueError as exc:
                raise ValueError(f"derive: {exc}") from None
            _require(size > 1, f"derive: {tf!r} must be coarser than 1m")
        _require(len(set(self.derive)) == len(self.derive), "derive: duplicates")
        missing = [tf for tf in self.sweep if tf not in self.derive]
        _require(not missing, f"sweep: {missing} must also be in derive {list(self.derive)}")


@dataclass(frozen=True)
class Strategy:
    """Defaults of every strategy run (names of docs/ARCHITECTURE.md, Strategy, e.g. ``fee_bps``);
    grids and featured sets override some of them."""

    overrides: dict[str, Any] = field(default_factory=dict)

    def params(self) -> Params:
        return Params.from_dict(self.overrides)

    def check(self) -> None:
        self.params()


@dataclass(frozen=True)
class Grid:
    """The sweep grid: ``parameter = [values]`` or ``{start, stop, step}`` (inclusive stop);
    empty means the 1 760-combination reference grid (docs/ARCHITECTURE.md, Sweeps and devices)."""

    axes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sweep:
    """Limits of a sweep: ``max_combinations``, the largest ``[grid]`` accepted (counted from the
    axes before any combination is built; ``[grid]`` itself holds only parameter names)."""

    max_combinations: int = DEFAULT_MAX_COMBINATIONS

    def check(self) -> None:
        _require(self.max_combinations >= 1, "max_combinations: must be >= 1")


@dataclass(frozen=True)
class Report:
    """Featured parameter sets (overrides of ``[strategy]``) that ``backtest_report`` runs in full."""

    featured: tuple[dict[str, Any], ...] = ({},)

    def check(self) -> None:
        _require(len(self.featured) > 0, "featured: at least one parameter set (use {} for the defaults)")
        for overrides in self.featured:
            Params.from_dict(overrides)


@dataclass(frozen=True)
class Selection:
    """How ``best_by_run`` ranks sweep rows: ``objective`` (a metric), ``min_trades``, ``top_k``."""

    objective: str = "sharpe"
    min_trades: int = 10
    top_k: int = 10

    def check(self) -> None:
        from threadx_core.research.selection import OBJECTIVES

        _require(self.objective in OBJECTIVES, f"objective: {self.objective!r} is not one of {OBJECTIVES}")
        _require(self.min_trades >= 0, "min_trades: must be >= 0")
        _require(self.top_k >= 1, "top_k: must be >= 1")


@dataclass(frozen=True)
class WalkForward:
    """The per-symbol decision report: ``in_sample_months`` to choose on, ``pbo_groups`` (S of
    CSCV, even), ``bootstrap_seed``."""

    in_sample_months: int = 3
    pbo_groups: int = 8
    bootstrap_seed: int = 0

    def check(self) -> None:
        _require(self.in_sample_months >= 1, "in_sample_months: must be >= 1")
        _require(self.pbo_groups >= 2 and self.pbo_groups % 2 == 0, "pbo_groups: must be even and >= 2")


@dataclass(frozen=True)
class Device:
    """Where sweeps run: ``mode``; ``gpus`` (CUDA indices, empty = all); ``ratios`` (one per GPU,
    empty = measured throughput)."""

    mode: str = "auto"
    gpus: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()

    def check(self) -> None:
        _require(self.mode in devices.MODES, f"mode: {self.mode!r} is not one of {devices.MODES}")
        _require(all(i >= 0 for i in self.gpus), "gpus: indices must be >= 0")
        _require(all(r > 0 for r in self.ratios), "ratios: must be > 0")
        _require(not self.ratios or len(self.ratios) == len(self.gpus),
                 f"ratios: {len(self.ratios)} given for {len(self.gpus)} gpus "
                 "(one each, or none for measured)")


@dataclass(frozen=True)
class Execution:
    """How Dagster runs the steps of a launched run: ``executor`` (``in_process``, the default:
    every step in the run's process; ``multiprocess``: one process per step on this machine, at
    most ``max_concurrent`` at once, 0 = one per CPU; ``celery``: steps go to Celery workers
    through ``broker``, results come back through ``backend``)."""

    executor: str = "in_process"
    max_concurrent: int = 0
    broker: str = ""
    backend: str = ""

    def check(self) -> None:
        _require(self.executor in EXECUTORS, f"executor: {self.executor!r} is not one of {EXECUTORS}")
        _require(self.max_concurrent >= 0, "max_concurrent: must be >= 0 (0: one per CPU)")
        _require(self.executor == "multiprocess" or self.max_concurrent == 0,
                 "max_concurrent: only for the multiprocess executor (Celery: each worker's --concurrency)")
        _require(self.executor == "celery" or not (self.broker or self.backend),
                 "broker, backend: only for the celery executor")
        _require(self.executor != "celery" or bool(self.broker and self.backend),
                 "broker, backend: the celery executor needs both URLs")


#: The daemon evaluates automation sensors at most this often (Dagster's asset daemon loop, s).
MIN_AUTOMATION_INTERVAL_S = 5


@dataclass(frozen=True)
class Automation:
    """How often the ``threadx_automation`` sensor evaluates the derived assets' conditions:
    every ``interval_s`` seconds (Dagster's default, 30, unless set; one tick per layer of the
    graph, so it bounds how long new candles take to reach the reports)."""

    interval_s: int = 30

    def check(self) -> None:
        _require(self.interval_s >= MIN_AUTOMATION_INTERVAL_S,
                 f"interval_s: must be >= {MIN_AUTOMATION_INTERVAL_S} (the daemon evaluates sensors "
                 f"at most every {MIN_AUTOMATION_INTERVAL_S} s)")


@dataclass(frozen=True)
class Settings:
    """All settings; ``path`` is the file they came from (``None`` for the defaults)."""

    path: Path | None = None
    warehouse: Warehouse = field(default_factory=Warehouse)
    universe: Universe = field(default_factory=Universe)
    source: Source = field(default_factory=Source)
    binance: Binance = field(default_factory=Binance)
    gaps: Gaps = field(default_factory=Gaps)
    timeframes: Timeframes = field(default_factory=Timeframes)
    strategy: Strategy = field(default_factory=Strategy)
    grid: Grid = field(default_factory=Grid)
    sweep: Sweep = field(default_factory=Sweep)
    report: Report = field(default_factory=Report)
    selection: Selection = field(default_factory=Selection)
    walkforward: WalkForward = field(default_factory=WalkForward)
    device: Device = field(default_factory=Device)
    execution: Execution = field(default_factory=Execution)
    automation: Automation = field(default_factory=Automation)

    def binance_state_dir(self) -> Path:
        """Where every Binance client of the project records the IP's weight budget and bans:
        ``[binance] state_dir``, by default ``<warehouse root>/.binance``."""
        return self.binance.state_dir or self.warehouse.root / ".binance"

    def params(self) -> Params:
        """The strategy defaults: ``Params`` with ``[strategy]`` applied."""
        return self.strategy.params()

    def sweep_grid(self) -> SweepGrid:
        """The validated sweep grid over the ``[strategy]`` defaults, built once per ``Settings``
        (:func:`load` builds it to validate ``[grid]``) and shared: callers must not change it."""
        return self._sweep_grid

    @functools.cached_property
    def _sweep_grid(self) -> SweepGrid:
        # ~1 760 validated Params: building it takes tens of milliseconds, and the code location,
        # every indicator cache and every sweep ask for it
        return SweepGrid(self.grid.axes or None, base=self.params(),
                         max_combinations=self.sweep.max_combinations)

    def featured(self) -> list[Params]:
        """The ``[report] featured`` parameter sets, each over the ``[strategy]`` defaults."""
        base = self.params()
        return [base.replace(**overrides) for overrides in self.report.featured]


def load(path: str | Path) -> Settings:
    """Read and validate the TOML file at ``path``."""
    path = Path(path).resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    return from_mapping(raw, base_dir=path.parent, source=str(path))


def from_mapping(raw: dict[str, Any], *, base_dir: Path, source: str = "<mapping>") -> Settings:
    """Build ``Settings`` from a parsed TOML mapping; relative paths resolve against ``base_dir``."""
    sections = {f.name: f for f in dataclasses.fields(Settings) if f.name != "path"}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise SettingsError(f"{source}: unknown section(s) {unknown}; known: {sorted(sections)}")
    built = {}
    for name, fld in sections.items():
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise SettingsError(f"{source}: [{name}] must be a table")
        built[name] = _section(fld.default_factory, name, value, base_dir, source)
    loaded = Settings(path=Path(source) if source != "<mapping>" else None, **built)
    for section, build in (("grid", loaded.sweep_grid), ("report", loaded.featured)):
        try:
            build()
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{source}: [{section}] {exc}") from None
    return loaded


#: Sections whose keys are free (strategy parameter names), held in their one field.
_TABLES = {"strategy": "overrides", "grid": "axes"}


def _section(cls: type, name: str, raw: dict[str, Any], base_dir: Path, source: str) -> Any:
    if name in _TABLES:
        raw = {_TABLES[name]: raw}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise SettingsError(f"{source}: [{name}] unknown key(s) {unknown}; known: {sorted(names)}")
    values = {}
    for key, value in raw.items():
        try:
            values[key] = _coerce(value, hints[key], base_dir)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{source}: [{name}] {key} = {value!r}: {exc}") from None
    for fld in dataclasses.fields(cls):
        if hints[fld.name] is Path and fld.name not in values:
            values[fld.name] = (base_dir / fld.default).resolve()
    section = cls(**values)
    try:
        if hasattr(section, "check"):
            section.check()
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{source}: [{name}] {exc}") from None
    return section


def _coerce(value: Any, hint: Any, base_dir: Path) -> Any:
    """Check ``value`` against the annotation ``hint``; TOML ints are accepted where floats are,
    and a float must be finite (TOML writes ``nan`` and ``inf``, and no setting means either)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # ``X | None``: TOML has no null, so an X
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(value, inner, base_dir)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError("expected a table")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError("expected a list")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(v, item, base_dir) for v in value)
    if hint is Path:
        if not isinstance(value, str):
            raise TypeError("expected a path string")
        return (base_dir / value).resolve()
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be finite")
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise TypeError(f"expected {hint.__name__}, got {type(value).__name__}")
    return value
