"""Parameter grids (docs/ARCHITECTURE.md, Sweeps and devices): the cartesian product of
per-parameter value lists.

Each axis is a list of values or a ``{start, stop, step}`` range with an *inclusive* stop
(``{start = 1.5, stop = 3.0, step = 0.1}`` is 16 values); float steps are snapped to 10 decimals
so that 1.5 + 3·0.1 is 1.8, not 1.8000000000000003. Values are deduplicated per axis (first
occurrence kept), every combination is validated through ``Params`` on top of a base parameter
set, and combinations are enumerated in a fixed order: the axes in ``Params`` field order, the
last axis varying fastest.
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

#: The legacy UI grid, the reference size: 5 × 16 × 11 × 2 = 1 760 combinations.
REFERENCE: dict[str, Any] = {
    "bb_period": [10, 15, 20, 25, 30],
    "bb_std": {"start": 1.5, "stop": 3.0, "step": 0.1},
    "atr_period": {"start": 10, "stop": 30, "step": 2},
    "atr_mult": [1.5, 2.0],
}


def expand(name: str, spec: Any) -> tuple[Any, ...]:
    """The values of one axis: a list as given (deduplicated), or a range with inclusive stop.

    Raises ``ValueError`` naming the parameter for an empty list, a non-positive step, a stop
    before the start, or any other shape.
    """
    if isinstance(spec, Mapping):
        if set(spec) != {"start", "stop", "step"}:
            raise ValueError(f"grid {name}: a range needs exactly start, stop and step, got {sorted(spec)}")
        start, stop, step = (spec[k] for k in ("start", "stop", "step"))
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop, step)):
            raise ValueError(f"grid {name}: start, stop and step must be numbers")
        if step <= 0 or stop < start:
            raise ValueError(f"grid {name}: need step > 0 and stop ≥ start, got {dict(spec)}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        integral = all(isinstance(v, int) for v in (start, stop, step))
        values = [start + i * step if integral else round(start + i * step, 10) for i in range(count)]
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
    1 760-combination reference grid. Parameters not in the mapping keep the base value.
    """

    def __init__(self, mapping: Mapping[str, Any] | None = None, base: Params | None = None) -> None:
        mapping = REFERENCE if mapping is None else mapping
        unknown = sorted(set(mapping) - set(PARAM_NAMES))
        if unknown:
            raise ValueError(f"grid: unknown strategy parameter(s) {unknown}; known: {list(PARAM_NAMES)}")
        self.base = base or Params()
        self.axes = {name: expand(name, mapping[name]) for name in PARAM_NAMES if name in mapping}
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
