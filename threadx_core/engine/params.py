"""Strategy parameters (docs/ARCHITECTURE.md, Strategy): one validated, immutable record."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

ATR_METHODS = ("wilder", "ema", "sma")
TAKE_PROFITS = ("mid", "none")
FILLS = ("next_open", "close")


def _integer(name: str, value: object, minimum: int) -> int:
    """An integer ≥ ``minimum``; integral floats (``20.0`` from a float range) are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        number = int(value)
    else:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return number


def _real(name: str, value: object, ok: bool, rule: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number {rule}, got {value!r}")
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return bool(value)


@dataclass(frozen=True)
class Params:
    """Bollinger + ATR mean-reversion parameters, the strategy's defaults (docs/ARCHITECTURE.md, Strategy).

    Construction validates every field and raises ``ValueError`` naming the parameter and the
    bad value; integral floats are normalised to ``int`` and reals to ``float``. Unknown names
    raise ``TypeError`` (keyword call) or ``ValueError`` (:meth:`from_dict`), naming them.
    """

    bb_period: int = 20
    bb_std: float = 2.0
    atr_period: int = 14
    atr_method: str = "wilder"
    atr_mult: float = 1.5
    trailing: bool = True
    take_profit: str = "mid"
    max_hold_bars: int = 0
    allow_short: bool = True
    risk_per_trade: float = 0.01
    leverage: float = 1.0
    fee_bps: float = 10.0
    slippage_bps: float = 5.0
    fill: str = "next_open"
    initial_capital: float = 10_000.0

    def __post_init__(self) -> None:
        checked = {
            "bb_period": _integer("bb_period", self.bb_period, 2),
            "bb_std": _real("bb_std", self.bb_std, self.bb_std > 0, "> 0"),
            "atr_period": _integer("atr_period", self.atr_period, 1),
            "atr_method": _choice("atr_method", self.atr_method, ATR_METHODS),
            "atr_mult": _real("atr_mult", self.atr_mult, self.atr_mult > 0, "> 0"),
            "trailing": _flag("trailing", self.trailing),
            "take_profit": _choice("take_profit", self.take_profit, TAKE_PROFITS),
            "max_hold_bars": _integer("max_hold_bars", self.max_hold_bars, 0),
            "allow_short": _flag("allow_short", self.allow_short),
            "risk_per_trade": _real("risk_per_trade", self.risk_per_trade,
                                    0 < self.risk_per_trade <= 1, "in (0, 1]"),
            "leverage": _real("leverage", self.leverage, self.leverage > 0, "> 0"),
            "fee_bps": _real("fee_bps", self.fee_bps, self.fee_bps >= 0, "≥ 0"),
            "slippage_bps": _real("slippage_bps", self.slippage_bps, self.slippage_bps >= 0, "≥ 0"),
            "fill": _choice("fill", self.fill, FILLS),
            "initial_capital": _real("initial_capital", self.initial_capital,
                                     self.initial_capital > 0, "> 0"),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> Params:
        """Build from a mapping (e.g. a config table); unknown keys raise ``ValueError`` listing
        all of them."""
        unknown = sorted(set(mapping) - set(PARAM_NAMES))
        if unknown:
            raise ValueError(f"unknown strategy parameter(s): {', '.join(unknown)}")
        return cls(**mapping)

    def replace(self, **changes: Any) -> Params:
        """A copy with ``changes`` applied, validated like a new instance."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, in declaration order (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)


#: The :class:`Params` field names, in declaration order: the parameters of a grid and the columns
#: that identify a combination in sweep results.
PARAM_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(Params))
