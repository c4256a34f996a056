"""Readers for docker/ (no Docker engine needed): the compose file, the entrypoint's roles and
the variables it reads, the Dockerfile's instructions."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENTRYPOINT = DOCKER / "entrypoint.sh"
DOCKERFILE = DOCKER / "Dockerfile"
#: the image every automtl service runs (with different commands)
AUTOMTL_IMAGES = ("automtl:latest", "automtl:cuda")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def automtl_services() -> dict[str, dict[str, Any]]:
    """Services that run the automtl image."""
    return {name: service for name, service in compose()["services"].items()
            if service.get("image") in AUTOMTL_IMAGES}


def entrypoint_roles() -> dict[str, list[str]]:
    """Role -> the command its branch ``exec``s (without ``"$@"``); ``*`` is the pass-through."""
    text = ENTRYPOINT.read_text()
    body = text[text.index('case "$role" in'):text.index("esac")]
    roles: dict[str, list[str]] = {}
    for match in re.finditer(r"^\s+([\w*-]+)\)\n(.*?);;", body, re.S | re.M):
        lines = match.group(2).replace("\\\n", " ").splitlines()
        execs = [line.strip() for line in lines if line.strip().startswith("exec ")]
        assert len(execs) == 1, f"role {match.group(1)} must exec exactly one command"
        words = shlex.split(execs[0])[1:]
        roles[match.group(1)] = [w for w in words if w != "$@"]
    return roles


def entrypoint_variables() -> set[str]:
    """``AUTOMTL_*`` variables the entrypoint reads or sets itself."""
    return set(re.findall(r"\$\{(AUTOMTL_[A-Z_]+)", ENTRYPOINT.read_text()))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out
