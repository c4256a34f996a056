#!/usr/bin/env bash
# Create or reuse .venv and install automtl with everything it needs.
# torch is installed first, pinned to the CPU wheel available offline; the project's
# range (torch>=2.2,<3) is then already satisfied, so pip downloads no CUDA packages.
# Everything is installed under constraints.txt (the versions CI tested; docker/Dockerfile uses
# the same file), so a venv or image built later is the one that was tested.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
STAMP=.venv/.automtl-installed
HASH=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$HASH" ]; then
  $VPY -m pip install -q --upgrade pip
  $VPY -m pip install -q "torch==2.13.0"
  # bench: the peers (DeepCTR-Torch, torch-rechub) so the benchmark smoke tests cover them too;
  # they are small pure-Python packages and never runtime dependencies of automtl.
  $VPY -m pip install -q -c constraints.txt -e ".[test,dev,bench]"
  echo "$HASH" > "$STAMP"
fi
