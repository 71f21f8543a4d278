"""Python and the installed distributions against the project's requirements.

The requirements are those of ``pyproject.toml`` (``requires-python``, ``dependencies``,
``optional-dependencies``): read from the file beside the packages in a source checkout, else
from the installed ``threadx-pipeline`` distribution's metadata (which pyproject.toml produced).
Versions are compared as versions (``packaging``), never as strings: ``15.0`` satisfies
``>=8``. A required distribution missing or outside its specifier is an error; an optional
extra (``gpu``, ``scale``, ``dev``) with a member missing or outside its specifier is a warning.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from threadx_core.doctor.report import Check

PROJECT = "threadx-pipeline"
#: pyproject.toml of a source checkout (absent in an installed wheel).
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: ``installed(name) -> version or None``: how a distribution's installed version is found.
Installed = Callable[[str], str | None]


@dataclass(frozen=True)
class Requirements:
    """``python`` (the ``requires-python`` specifier), ``required`` (the dependencies) and
    ``extras`` (optional dependencies by extra name); ``source`` names where they were read."""

    python: SpecifierSet
    required: tuple[Requirement, ...]
    extras: Mapping[str, tuple[Requirement, ...]]
    source: str


def from_pyproject(path: Path) -> Requirements:
    """The requirements of the ``pyproject.toml`` at ``path``."""
    project = tomllib.loads(path.read_text())["project"]
    return Requirements(
        SpecifierSet(project.get("requires-python", "")),
        _own(project.get("dependencies", [])),
        {extra: _own(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()},
        str(path))


def from_metadata(distribution: str = PROJECT) -> Requirements:
    """The requirements recorded in the installed ``distribution``'s metadata."""
    meta = metadata.metadata(distribution)
    extras: dict[str, list[str]] = {extra: [] for extra in meta.get_all("Provides-Extra") or []}
    required: list[str] = []
    for text in metadata.requires(distribution) or []:
        req = Requirement(text)
        if req.marker is None or "extra" not in str(req.marker):
            required.append(text)
            continue
        # the wheel writes an extra's members as `name; extra == "gpu"`: file them under it
        owner = next(e for e in extras if req.marker.evaluate({"extra": e}))
        extras[owner].append(text.split(";")[0])
    return Requirements(SpecifierSet(meta.get("Requires-Python") or ""), _own(required),
                        {extra: _own(reqs) for extra, reqs in extras.items()},
                        f"{distribution} {meta['Version']} metadata")


def project_requirements() -> Requirements:
    """The requirements of pyproject.toml beside the packages, else of the installed metadata."""
    return from_pyproject(PYPROJECT) if PYPROJECT.is_file() else from_metadata()


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_python(spec: SpecifierSet, version: str | None = None) -> Check:
    """Error unless the running Python (``version``) satisfies ``requires-python``."""
    version = version or platform.python_version()
    if spec.contains(version, prereleases=True):
        return Check.ok("python", f"{version} (requires {spec or 'any'})")
    return Check.error("python", f"{version} does not satisfy requires-python {spec}")


def check_required(req: Requirement, installed: Installed = installed_version) -> Check:
    """Error when the required distribution ``req`` is missing or outside its specifier."""
    problem = _problem(req, installed)
    if problem is None:
        return Check.ok(req.name, f"{installed(req.name)} (requires {req.specifier or 'any'})")
    return Check.error(req.name, f"{problem}; pip install -e . installs the requirements")


def check_extra(extra: str, reqs: tuple[Requirement, ...], installed: Installed = installed_version) -> Check:
    """Warning when a member of the optional ``extra`` is missing or outside its specifier."""
    problems = [p for p in (_problem(r, installed) for r in reqs) if p is not None]
    if not problems:
        found = ", ".join(f"{r.name} {installed(r.name)}" for r in reqs)
        return Check.ok(f"[{extra}]", found or "nothing to install")
    return Check.warning(f"[{extra}]", f"optional extra incomplete: {'; '.join(problems)} "
                         f"(pip install -e '.[{extra}]')")


def requirement_checks(requirements: Requirements, installed: Installed = installed_version) -> list[Check]:
    """Python, one check per required distribution, one per optional extra."""
    return [check_python(requirements.python),
            *(check_required(r, installed) for r in requirements.required),
            *(check_extra(e, reqs, installed) for e, reqs in requirements.extras.items())]


def _problem(req: Requirement, installed: Installed) -> str | None:
    """Why ``req`` is not met (missing, too old or too new, unreadable version), None if it is."""
    version = installed(req.name)
    if version is None:
        return f"{req.name} not installed (requires {req})"
    try:
        met = req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return f"{req.name} {version} is not a readable version (requires {req.specifier})"
    return None if met else f"{req.name} {version} installed, requires {req.specifier}"


def _own(texts: list[str]) -> tuple[Requirement, ...]:
    """The requirements of ``texts`` that apply here, without the project itself (an extra that
    includes another, e.g. ``threadx-pipeline[scale]``, is checked as that extra)."""
    reqs = (Requirement(t) for t in texts)
    return tuple(r for r in reqs if canonicalize_name(r.name) != PROJECT
                 and (r.marker is None or r.marker.evaluate({"extra": ""})))
