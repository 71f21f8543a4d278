"""Versions against the project's requirements: compared as versions, required vs optional."""

from __future__ import annotations

from threadx_core.doctor import exit_code
from threadx_core.doctor.report import Status
from threadx_core.doctor.requirements import (
    PYPROJECT,
    from_metadata,
    from_pyproject,
    installed_version,
    requirement_checks,
)

ABSENT = "threadx-no-such-distribution"


def pyproject(tmp_path, python=">=3.11", required=(), extras=None):
    lines = [f'requires-python = "{python}"', f"dependencies = {list(required)!r}"]
    extra_lines = [f"{name} = {list(reqs)!r}" for name, reqs in (extras or {}).items()]
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\n" + "\n".join(lines) + "\n[project.optional-dependencies]\n"
                    + "\n".join(extra_lines) + "\n")
    return from_pyproject(path)


def by_name(checks):
    return {c.name: c for c in checks}


def test_versions_are_compared_as_versions_not_strings(tmp_path):
    pyarrow = installed_version("pyarrow")
    assert pyarrow is not None and pyarrow < "8"  # compared as strings, "26.0.1" is older than "8"
    checks = by_name(requirement_checks(pyproject(tmp_path, required=["pyarrow>=8", "numpy>=999"])))
    assert checks["pyarrow"].status is Status.OK and pyarrow in checks["pyarrow"].detail
    numpy = checks["numpy"]
    assert numpy.status is Status.ERROR
    assert numpy.detail.startswith(f"numpy {installed_version('numpy')} installed, requires >=999")
    assert exit_code(list(checks.values())) == 2


def test_a_missing_required_distribution_is_an_error_a_missing_extra_a_warning(tmp_path):
    reqs = pyproject(tmp_path, python=">=99", required=[f"{ABSENT}>=1"],
                     extras={"gpu": [f"{ABSENT}>=2", "numpy>=1"],
                             "dev": ["numpy>=1", "threadx-pipeline[gpu]"]})
    checks = by_name(requirement_checks(reqs))
    assert checks["python"].status is Status.ERROR and "requires-python >=99" in checks["python"].detail
    assert checks[ABSENT].status is Status.ERROR and "not installed" in checks[ABSENT].detail
    assert checks["[gpu]"].status is Status.WARNING
    assert checks["[gpu]"].detail.startswith(f"optional extra incomplete: {ABSENT} not installed")
    assert "pip install -e '.[gpu]'" in checks["[gpu]"].detail
    # an extra naming the project itself is that extra, checked on its own line
    assert checks["[dev]"].status is Status.OK and checks["[dev]"].detail.startswith("numpy ")


def test_the_project_requirements_hold_here_and_match_the_installed_metadata():
    mine, installed = from_pyproject(PYPROJECT), from_metadata()
    assert str(mine.python) == str(installed.python) == ">=3.11"
    assert {r.name for r in installed.required} <= {r.name for r in mine.required}
    assert set(installed.extras) == set(mine.extras) and "gpu" in mine.extras
    assert all(c.status is Status.OK for c in requirement_checks(mine) if not c.name.startswith("["))
