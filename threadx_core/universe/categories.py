"""The versioned category table of the universe (``threadx_core/universe/categories.toml``).

Contract
--------
``load(path=TABLE)`` returns a :class:`Table`: its ``version`` (an int, bumped with every change
of the file), the categories in file order (key, display name, tickers, default minimum) and the
explicit exclusion lists (``stablecoins``, ``wrapped``, ``staked``: base tickers). A file that
does not parse, lacks a field, names a ticker twice in one category or gives a negative minimum
raises ``CategoryTableError`` naming the file and the key. :meth:`Table.minimums` applies the
``[universe] category_minimums`` overrides, refusing a key that is not a category.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadx_core.errors import ThreadXError

TABLE = Path(__file__).with_name("categories.toml")
EXCLUSION_LISTS = ("stablecoins", "wrapped", "staked")


class CategoryTableError(ThreadXError, ValueError):
    """The category table is malformed, or an override names an unknown category."""


@dataclass(frozen=True)
class Category:
    """One category: ``key`` (as in the file), display ``name``, base ``tickers``, ``minimum``."""

    key: str
    name: str
    tickers: frozenset[str]
    minimum: int


@dataclass(frozen=True)
class Table:
    """The category table: ``version``, ``categories`` in file order, ``exclude`` lists."""

    version: int
    categories: tuple[Category, ...]
    exclude: Mapping[str, frozenset[str]]
    path: Path

    def of(self, base: str) -> list[str]:
        """The keys of every category holding the base ticker ``base``, in file order."""
        return [c.key for c in self.categories if base in c.tickers]

    def minimums(self, overrides: Mapping[str, int]) -> dict[str, int]:
        """Each category's minimum, ``overrides`` (key → members) replacing the file's."""
        keys = [c.key for c in self.categories]
        unknown = sorted(set(overrides) - set(keys))
        if unknown:
            raise CategoryTableError(f"category_minimums: unknown categor(ies) {unknown} "
                                     f"(version {self.version} of {self.path} has {keys})")
        bad = sorted(k for k, n in overrides.items() if n < 0)
        if bad:
            raise CategoryTableError(f"category_minimums: {bad} must be >= 0")
        return {c.key: overrides.get(c.key, c.minimum) for c in self.categories}


def load(path: Path = TABLE) -> Table:
    """Read and check the category table at ``path`` (see the module docstring)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return _table(raw, path)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CategoryTableError(f"{path}: cannot read the category table: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CategoryTableError):
            raise
        raise CategoryTableError(f"{path}: malformed category table: {exc!r}") from None


def _table(raw: dict[str, Any], path: Path) -> Table:
    version = raw["version"]
    if not isinstance(version, int) or version < 1:
        raise CategoryTableError(f"{path}: version must be an integer >= 1, got {version!r}")
    categories = []
    for key, entry in raw["categories"].items():
        tickers = [str(t) for t in entry["tickers"]]
        if len(set(tickers)) != len(tickers) or any(t != t.upper() for t in tickers):
            raise CategoryTableError(f"{path}: [categories.{key}] tickers must be upper case, each once")
        minimum = int(entry["minimum"])
        if minimum < 0:
            raise CategoryTableError(f"{path}: [categories.{key}] minimum must be >= 0")
        categories.append(Category(key, str(entry["name"]), frozenset(tickers), minimum))
    exclude = {name: frozenset(str(t) for t in raw["exclude"][name]) for name in EXCLUSION_LISTS}
    return Table(version, tuple(categories), exclude, path)
