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
    # the data folders (no __init__.py) are listed for their package-data
    data = {name for name in table["packages"] if name in table.get("package-data", {})}
    data_folders = {Path(folder_of.get(n.partition(".")[0], n.partition(".")[0]),
                         n.partition(".")[2].replace(".", "/")).as_posix() for n in data}
    assert found == listed - data_folders
    assert all(not (ROOT / folder / "__init__.py").exists() for folder in data_folders)


@pytest.mark.slow
def test_a_wheel_builds_without_package_data_warnings_and_ships_every_data_file(
        tmp_path: Path) -> None:
    """setuptools warned once per data folder missing from ``packages`` (~150 lines in a new
    user's set-up); the wheel must build quietly and still hold every template, preset and
    migration."""
    import zipfile

    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "absent from the `packages` configuration" not in done.stdout + done.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    expected = {f"automtl/export/templates/{p.name}"
                for p in (ROOT / "automtl/export/templates").glob("*.tmpl")}
    expected |= {f"search_spaces/presets/{p.name}"
                 for p in (ROOT / "search_spaces/presets").glob("*.yaml")}
    expected |= {f"automtl_storage/{p.relative_to(ROOT / 'storage').as_posix()}"
                 for p in (ROOT / "storage/migrations").rglob("*")
                 if p.suffix in (".py", ".mako") and "__pycache__" not in p.parts}
    assert expected - names == set()


def test_no_generic_top_level_import_names() -> None:
    """Outside the checkout, `api` and `storage` are not importable (no collision with other
    packages of those names); the service imports as automtl_api / automtl_storage."""
    code = ("import importlib.util as u, sys; "
            "print(u.find_spec('api') is None, u.find_spec('storage') is None, "
            "u.find_spec('automtl_api') is not None, u.find_spec('automtl_storage') is not None)")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]
