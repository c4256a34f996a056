"""Dependency floors and the constraints file against the known-bad list (issue 22, item 4).

``pyproject.toml`` floors must all lie outside every range of ``tests/known_bad_versions.txt``
(CVE-affected or API-incompatible releases), ``constraints.txt`` must pin every runtime
dependency to a version its floor admits and no bad range holds, and what is installed here must
be what the constraints pin, so the tested set is the one the Docker image and CI install.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
KNOWN_BAD = ROOT / "tests" / "known_bad_versions.txt"
CONSTRAINTS = ROOT / "constraints.txt"


def known_bad() -> list[tuple[str, SpecifierSet, str]]:
    """``(package, bad range, why)`` per line of the known-bad list."""
    entries = []
    for line in KNOWN_BAD.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, specifier, why = line.split(maxsplit=2)
        entries.append((canonicalize_name(name), SpecifierSet(specifier), why))
    return entries


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def floor(requirement: Requirement) -> Version | None:
    """The lowest version a requirement admits (its ``>=`` bound), None when unbounded below."""
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def constraints() -> dict[str, Version]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"constraints.txt: {line!r} is not a pin"
            pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_the_known_bad_list_parses_and_names_a_reason_per_range() -> None:
    entries = known_bad()
    assert entries
    assert all(len(why) > 10 for _, _, why in entries)
    assert {"ray", "pyarrow", "python-multipart"} <= {name for name, _, _ in entries}


def test_every_runtime_dependency_has_a_floor() -> None:
    unbounded = [str(r) for r in runtime_requirements() if floor(r) is None]
    assert unbounded == []


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_no_floor_is_a_known_bad_version(requirement: Requirement) -> None:
    name, lowest = canonicalize_name(requirement.name), floor(requirement)
    assert lowest is not None
    for bad_name, bad, why in known_bad():
        assert not (bad_name == name and lowest in bad), \
            f"{requirement}: its floor {lowest} is known bad ({bad}): {why}"


def test_the_issue_cases_are_refused() -> None:
    """The floors the issue found unsafe or broken would fail the check above."""
    bad = {(name, str(spec)) for name, spec, _ in known_bad()}
    samples = {"ray": Version("2.9"), "pyarrow": Version("14.0.0"),
               "python-multipart": Version("0.0.9")}
    for name, version in samples.items():
        assert any(version in SpecifierSet(spec) for n, spec in bad if n == name), name


def test_constraints_pin_every_runtime_dependency_inside_its_range_and_outside_bad_ones(
) -> None:
    pins = constraints()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside {requirement.specifier}"
    for name, bad, why in known_bad():
        if name in pins:
            assert pins[name] not in bad, f"constraints.txt pins {name}=={pins[name]}: {why}"


def test_what_is_installed_here_is_what_the_constraints_pin() -> None:
    """The suite runs on the pinned set, so an image built from the constraints is the one
    tested (bootstrap.sh installs with ``-c constraints.txt``)."""
    pins = constraints()
    differ = []
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        installed = Version(importlib.metadata.version(name))
        if Version(installed.base_version) != Version(pins[name].base_version):
            differ.append(f"{name}: installed {installed}, pinned {pins[name]}")
    assert differ == []
