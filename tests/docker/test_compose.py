"""docker/compose.yaml, docker/entrypoint.sh and docker/Dockerfile checked against the code they
run, without a Docker engine: every role is a real command, every setting one the code reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from docker_files import (
    ROOT,
    automtl_services,
    compose,
    dockerfile_instructions,
    entrypoint_roles,
    entrypoint_variables,
)

from automtl.cli import build_parser
from automtl_api.settings import Settings

VENV_BIN = Path(sys.executable).parent


def _setting_variables() -> set[str]:
    prefix = Settings.model_config["env_prefix"]
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def test_compose_has_the_production_services() -> None:
    services = compose()["services"]
    assert {"postgres", "migrate", "api", "worker"} <= set(services)
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # migrations run once, after PostgreSQL is healthy; the API and the workers wait for them
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in automtl_services().items():
        if name in ("migrate", "ray-node"):
            continue
        assert service["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully", name
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])


def test_every_service_runs_a_role_of_the_entrypoint() -> None:
    roles = entrypoint_roles()
    for name, service in automtl_services().items():
        command = service["command"]
        assert command[0] in roles, f"{name}: {command[0]!r} is not an entrypoint role"


@pytest.mark.parametrize("role", ["migrate", "api", "worker"])
def test_entrypoint_roles_are_real_automtl_subcommands(role: str) -> None:
    command = entrypoint_roles()[role]
    assert command[0] == "automtl"
    args = build_parser().parse_args(command[1:])  # SystemExit on an unknown command or option
    assert callable(args.handler)


def test_ray_node_role_uses_real_ray_start_options() -> None:
    command = entrypoint_roles()["ray-node"]
    assert command[:2] == ["ray", "start"]
    help_text = subprocess.run([str(VENV_BIN / "ray"), "start", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for option in command[2:]:
        assert option.split("=")[0] in help_text, option
    head_options = re.findall(r"(--[a-z-]+)", _head_start_line())
    assert head_options and all(option in help_text for option in head_options)


def _head_start_line() -> str:
    text = (ROOT / "docker" / "entrypoint.sh").read_text().replace("\\\n", " ")
    return next(line for line in text.splitlines() if "ray start --head" in line)


def test_every_variable_the_compose_file_sets_is_read() -> None:
    settings = _setting_variables()
    entrypoint_only = entrypoint_variables() - settings
    assert entrypoint_only == {"AUTOMTL_RAY_HEAD", "AUTOMTL_RAY_PORT", "AUTOMTL_RAY_JOIN",
                               "AUTOMTL_RAY_RESOURCES"}
    for name, service in automtl_services().items():
        for variable in service.get("environment", {}):
            assert variable.startswith("AUTOMTL_"), f"{name}: {variable}"
            assert variable in settings | entrypoint_only, \
                f"{name}: {variable} is read by neither api.settings.Settings nor the entrypoint"


def test_the_compose_settings_are_a_valid_production_configuration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    for name, service in automtl_services().items():
        if name == "ray-node":
            continue
        for variable in [v for v in os.environ if v.startswith("AUTOMTL_")]:
            monkeypatch.delenv(variable)
        for variable, value in service["environment"].items():
            monkeypatch.setenv(variable, str(value))
        settings = Settings()
        assert settings.env == "production"
        url = settings.resolved_database_url
        assert url == (f"postgresql+psycopg://{postgres['POSTGRES_USER']}:"
                       f"{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
                       f"{postgres['POSTGRES_DB']}"), name


def test_gpu_profile_reserves_gpus_and_builds_cuda_torch() -> None:
    services = compose()["services"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["command"] == ["worker"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"].startswith("cu")
    assert gpu["build"]["dockerfile"] == "docker/Dockerfile"
    # the extra workers and Ray nodes join the CPU worker's Ray head: a Ray node joins by its
    # address, an extra worker by starting a node of its own (AUTOMTL_RAY_JOIN), since Ray's
    # driver connects through a local node (a bare head address fails to connect)
    port = services["worker"]["environment"]["AUTOMTL_RAY_PORT"]
    assert services["ray-node"]["environment"]["AUTOMTL_RAY_ADDRESS"] == f"worker:{port}"
    extra = services["worker-extra"]["environment"]
    assert extra["AUTOMTL_RAY_JOIN"] == f"worker:{port}"
    assert "AUTOMTL_RAY_ADDRESS" not in extra  # the entrypoint sets it to auto after joining
    for name in ("worker-extra", "ray-node"):
        assert services[name]["profiles"] == ["scale"]
        assert "automtl-files:/var/lib/automtl" in services[name]["volumes"]


def test_a_joining_worker_starts_its_own_ray_node_before_the_worker() -> None:
    text = (ROOT / "docker" / "entrypoint.sh").read_text().replace("\\\n", " ")
    join = text.index('elif [ -n "${AUTOMTL_RAY_JOIN:-}" ]')
    branch = text[join:text.index("exec automtl worker")]
    start = next(line.strip() for line in branch.splitlines() if "ray start" in line)
    assert '--address="${AUTOMTL_RAY_JOIN}"' in start and "--head" not in start
    assert "--block" not in start  # it returns once the node runs, then the worker starts
    assert "export AUTOMTL_RAY_ADDRESS=auto" in branch
    help_text = subprocess.run([str(VENV_BIN / "ray"), "start", "--help"], capture_output=True,
                               text=True, check=True).stdout
    for option in re.findall(r"(--[a-z-]+)", start):
        assert option in help_text, option


def test_dockerfile_installs_torch_explicitly_and_runs_as_a_user() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    assert args["TORCH_VARIANT"] == "cpu"
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert f'"torch=={args["TORCH_VERSION"]}"' in bootstrap  # the same torch as the venv
    runs = [a for k, a in instructions if k == "RUN"]
    torch_run = next(r for r in runs if "torch==" in r)
    assert "${TORCH_VARIANT}" in torch_run and "--index-url" in torch_run
    assert runs.index(torch_run) < runs.index(next(r for r in runs if "pip install -c" in r))
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("ENTRYPOINT", '["automtl-entrypoint"]') in instructions
    assert ("COPY", "docker/entrypoint.sh /usr/local/bin/automtl-entrypoint") in instructions


def test_dockerfile_copies_every_package_and_its_data(tmp_path: Path) -> None:
    """A wheel built from exactly what the Dockerfile copies holds every package with its data
    files (presets, migrations, export templates)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools_table = pyproject["tool"]["setuptools"]
    package_dir = setuptools_table["package-dir"]
    # the source folders of the top-level packages (automtl_api lives in api/, ...)
    packages = [package_dir.get(p, p) for p in setuptools_table["packages"] if "." not in p]
    source = tmp_path / "src"
    source.mkdir()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and not arguments.startswith("docker/"):
            *items, _ = arguments.split()
            for item in items:
                path = ROOT / item
                if path.is_dir():
                    shutil.copytree(path, source / item,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(path, source / item)
    assert sorted(packages) == sorted(p.name for p in source.iterdir() if p.is_dir())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "wheel"), str(source)], check=True,
                   capture_output=True)
    names = zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))).namelist()
    for package in setuptools_table["packages"]:
        folder = package.replace(".", "/")
        # a code package ships its __init__.py; a data folder listed as a (namespace) package
        # (templates, presets, migrations: no __init__.py) ships its files
        assert f"{folder}/__init__.py" in names or any(
            name.startswith(f"{folder}/") and "/" not in name[len(folder) + 1:]
            for name in names), package
    for expected in ("search_spaces/presets/default.yaml", "automtl_storage/migrations/env.py",
                     "automtl/export/templates/train.py.tmpl"):
        assert expected in names
    assert not any(n.startswith(("api/", "storage/")) for n in names)  # no generic top-level name
    versions = [n for n in names if n.startswith("automtl_storage/migrations/versions/")]
    assert versions


def test_the_image_and_ci_install_from_the_same_constraints_file() -> None:
    instructions = dockerfile_instructions()
    copies = [a for k, a in instructions if k == "COPY"]
    assert any("constraints.txt" in a.split() for a in copies)
    project_run = next(a for k, a in instructions if k == "RUN" and "pip install" in a
                       and "torch==" not in a)
    assert "-c constraints.txt" in project_run
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "-c constraints.txt" in bootstrap
    assert (ROOT / "constraints.txt").is_file()
