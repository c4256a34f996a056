"""Packaging: every package folder is installed, under import names that belong to automtl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_table() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed() -> None:
    """A new sub-package (a folder with __init__.py) must be added to pyproject's list, or the
    installed wheel would silently lack it."""
    table = _setuptools_table()
    folder_of = {name: folder for name, folder in table["package-dir"].items()}
    listed = set()
    for package in table["packages"]:
        top, _, rest = package.partition(".")
        folder = Path(folder_of.get(top, top)) / rest.replace(".", "/")
        listed.add(folder.as_posix().rstrip("/"))
    found = {p.parent.relative_to(ROOT).as_posix()
             for top in ("automtl", "search_spaces", "api", "storage")
             for p in (ROOT / top).rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found == listed


def test_no_generic_top_level_import_names() -> None:
    """Outside the checkout, `api` and `storage` are not importable (no collision with other
    packages of those names); the service imports as automtl_api / automtl_storage."""
    code = ("import importlib.util as u, sys; "
            "print(u.find_spec('api') is None, u.find_spec('storage') is None, "
            "u.find_spec('automtl_api') is not None, u.find_spec('automtl_storage') is not None)")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]
