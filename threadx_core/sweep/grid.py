"""Parameter grids (docs/ARCHITECTURE.md, Sweeps and devices): the cartesian product of
per-parameter value lists.

Each axis is a list of values or a ``{start, stop, step}`` range with an *inclusive* stop
(``{start = 1.5, stop = 3.0, step = 0.1}`` is 16 values); float steps are snapped to 10 decimals
so that 1.5 + 3·0.1 is 1.8, not 1.8000000000000003. Values are deduplicated per axis (first
occurrence kept), every combination is validated through ``Params`` on top of a base parameter
set, and combinations are enumerated in a fixed order: the axes in ``Params`` field order, the
last axis varying fastest.

A grid is *counted before it is built*: each axis's length comes from its list or from the
range's arithmetic, never from materialising it, and a grid of more than ``max_combinations``
(``[sweep] max_combinations``) is refused with ``GridTooLargeError`` before any value list or
``Params`` exists, so an absurd spec (a step of ``1e-300``, 10⁹ combinations) fails at once
instead of exhausting memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from threadx_core.engine.params import PARAM_NAMES, Params
from threadx_core.errors import ThreadXError

#: The legacy UI grid, the reference size: 5 × 16 × 11 × 2 = 1 760 combinations.
REFERENCE: dict[str, Any] = {
    "bb_period": [10, 15, 20, 25, 30],
    "bb_std": {"start": 1.5, "stop": 3.0, "step": 0.1},
    "atr_period": {"start": 10, "stop": 30, "step": 2},
    "atr_mult": [1.5, 2.0],
}

#: The default of ``[sweep] max_combinations``: 200 000 combinations take a few seconds to build
#: and validate and well under a gigabyte to sweep.
DEFAULT_MAX_COMBINATIONS = 200_000
#: Rough memory of one combination: ~260 B for its ``Params`` and grid bookkeeping (measured with
#: ``tracemalloc``) plus ~600 B for its sweep row (parameters, metrics, a month of daily returns); only for
#: the estimate in ``GridTooLargeError`` messages.
BYTES_PER_COMBINATION = 1_000


class GridTooLargeError(ThreadXError, ValueError):
    """A grid (or one range axis) with more combinations than the configured limit."""


def _too_large(what: str, count: int | float, limit: int) -> GridTooLargeError:
    size = f"{count:,}" if count < 10**12 else f"{float(count):.3g}"
    memory = float(count) * BYTES_PER_COMBINATION / 2**30
    return GridTooLargeError(f"{what} has {size} combinations (about {memory:.3g} GiB), more than "
                             f"the limit of {limit:,} ([sweep] max_combinations)")


def _range_count(name: str, spec: Mapping[str, Any]) -> int | float:
    """How many values the ``{start, stop, step}`` range of ``name`` holds, from its arithmetic
    (``inf`` when too many to count); raises ``ValueError`` naming the parameter for a bad shape."""
    if set(spec) != {"start", "stop", "step"}:
        raise ValueError(f"grid {name}: a range needs exactly start, stop and step, got {sorted(spec)}")
    start, stop, step = (spec[k] for k in ("start", "stop", "step"))
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop, step)):
        raise ValueError(f"grid {name}: start, stop and step must be numbers")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"grid {name}: start, stop and step must be finite, got {dict(spec)}")
    if step <= 0 or stop < start:
        raise ValueError(f"grid {name}: need step > 0 and stop ≥ start, got {dict(spec)}")
    span = (stop - start) / step
    return math.floor(span + 1e-9) + 1 if math.isfinite(span) else math.inf


def axis_length(name: str, spec: Any) -> int | float:
    """The number of values of one axis *before* deduplication, without building a range
    (``inf`` for a range too long to count): what :func:`count` multiplies."""
    if isinstance(spec, Mapping):
        return _range_count(name, spec)
    return len(spec) if isinstance(spec, list | tuple) else 1


def count(mapping: Mapping[str, Any]) -> int | float:
    """Combinations of the grid ``mapping`` (an upper bound: before duplicates are dropped),
    counted from the axes without building any of them; ``inf`` if a range is too long to count."""
    return math.prod(axis_length(name, spec) for name, spec in mapping.items())


def expand(name: str, spec: Any, limit: int = DEFAULT_MAX_COMBINATIONS) -> tuple[Any, ...]:
    """The values of one axis: a list as given (deduplicated), or a range with inclusive stop.

    Raises ``ValueError`` naming the parameter for an empty list, a non-positive or non-finite
    bound or step, a stop before the start, or any other shape, and ``GridTooLargeError`` (before
    building anything) for a range of more than ``limit`` values.
    """
    if isinstance(spec, Mapping):
        length = _range_count(name, spec)
        if length > limit:
            raise _too_large(f"grid {name}: the range {dict(spec)}", length, limit)
        start, stop, step = (spec[k] for k in ("start", "stop", "step"))
        integral = all(isinstance(v, int) for v in (start, stop, step))
        values = [start + i * step if integral else round(start + i * step, 10) for i in range(length)]
    elif isinstance(spec, list | tuple):
        values = list(spec)
    else:
        values = [spec]
    if not values:
        raise ValueError(f"grid {name}: no values")
    return tuple(dict.fromkeys(values))


class Grid:
    """A validated parameter grid over a ``base`` parameter set (``Params()`` by default).

    ``Grid(mapping)`` takes ``{parameter: values | {start, stop, step}}``; ``Grid()`` is the
    1 760-combination reference grid. Parameters not in the mapping keep the base value. A grid
    whose :func:`count` exceeds ``max_combinations`` raises ``GridTooLargeError`` (giving the count
    and the estimated memory) before anything is built; each axis value is then validated once,
    so a bad value fails before the product is enumerated.
    """

    def __init__(self, mapping: Mapping[str, Any] | None = None, base: Params | None = None, *,
                 max_combinations: int = DEFAULT_MAX_COMBINATIONS) -> None:
        mapping = REFERENCE if mapping is None else mapping
        unknown = sorted(set(mapping) - set(PARAM_NAMES))
        if unknown:
            raise ValueError(f"grid: unknown strategy parameter(s) {unknown}; known: {list(PARAM_NAMES)}")
        for name, spec in mapping.items():  # first the axis at fault, by name
            if (length := axis_length(name, spec)) > max_combinations:
                raise _too_large(f"grid {name}", length, max_combinations)
        if (total := count(mapping)) > max_combinations:
            raise _too_large("grid", total, max_combinations)
        self.base = base or Params()
        self.axes = {name: expand(name, mapping[name], max_combinations)
                     for name in PARAM_NAMES if name in mapping}
        for name, values in self.axes.items():
            for value in values:
                self.base.replace(**{name: value})
        self._combos = list(self._validated())

    def _validated(self) -> Iterator[Params]:
        seen: set[Params] = set()
        names = list(self.axes)
        for values in itertools.product(*self.axes.values()):
            try:
                params = self.base.replace(**dict(zip(names, values, strict=True)))
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            if params not in seen:
                seen.add(params)
                yield params

    def __len__(self) -> int:
        return len(self._combos)

    def __iter__(self) -> Iterator[Params]:
        return iter(self._combos)

    def __getitem__(self, index: int) -> Params:
        return self._combos[index]

    def bb_periods(self) -> list[int]:
        """Distinct Bollinger windows, ascending."""
        return sorted({p.bb_period for p in self._combos})

    def atr_windows(self) -> list[tuple[int, str]]:
        """Distinct ``(atr_period, atr_method)`` pairs, sorted."""
        return sorted({(p.atr_period, p.atr_method) for p in self._combos})

    def to_frame(self) -> pd.DataFrame:
        """One row per combination, one column per ``Params`` field, in grid order."""
        return pd.DataFrame([p.to_dict() for p in self._combos], columns=list(PARAM_NAMES))

    def digest(self) -> str:
        """A stable hash of every combination, in order (part of a sweep's run id)."""
        payload = json.dumps([p.to_dict() for p in self._combos], sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]
