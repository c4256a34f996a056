#!/usr/bin/env bash
# Install automtl's runtime dependencies at their floors (the lowest version pyproject.toml
# admits for each direct dependency; what those pull in at their newest) in a throwaway venv and
# run a subset of the tests there: data loading with Parquet, uploads over multipart, storage
# (SQLite; PostgreSQL too when the test server is reachable), searches on Ray, export, the report
# (Plotly), the solver-based weightings (cvxpy, SciPy) and the API docs (fastapi-offline).
# A floor that fails here is raised in pyproject.toml and the failing range added to
# tests/known_bad_versions.txt with the reason.
#
# Not part of CI: it downloads every floor release (~1 GB with Ray). Run from anywhere:
#   bash scripts/check_floors.sh            # venv in /tmp/automtl-floors-venv, recreated
#   FLOORS_VENV=/tmp/v KEEP=1 bash scripts/check_floors.sh   # reuse an existing venv
# torch is installed first as TORCH (default the CPU wheel CI uses) and overrides the resolver,
# so no CUDA packages are downloaded. Needs network access to the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${FLOORS_VENV:-/tmp/automtl-floors-venv}
TORCH=${TORCH:-torch==2.13.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled

if [ "${KEEP:-0}" != 1 ] || [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "$TORCH" uv
  # the installed torch (its local label, e.g. +cpu, included) is the one every resolution keeps
  TORCH_PIN=$("$VENV/bin/python" -c 'import torch; print("torch==" + torch.__version__)')
  echo "$TORCH_PIN" > "$WORK/override.txt"
  FIND_LINKS=()
  for dir in ${PIP_FIND_LINKS:-$("$VENV/bin/pip" config get global.find-links 2>/dev/null || true)}; do
    FIND_LINKS+=(--find-links "$dir")
  done
  "$VENV/bin/uv" pip compile pyproject.toml --extra test --resolution lowest-direct \
    --override "$WORK/override.txt" "${FIND_LINKS[@]}" --python "$VENV/bin/python" \
    --no-header --no-annotate --quiet -o "$VENV/floors-lock.txt"
  # pip, not uv, installs the lock: it finds torch where pip is configured to (a local wheel)
  "$VENV/bin/pip" install -q -r "$VENV/floors-lock.txt"
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
fi

echo "== direct dependencies at their floors"
"$VENV/bin/python" - <<'EOF'
import importlib.metadata
from packaging.requirements import Requirement
try:
    import tomllib
except ImportError:  # Python 3.10
    import pip._vendor.tomli as tomllib
for text in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    req = Requirement(text)
    print(f"  {req.name:<18} {str(req.specifier):<14} installed {importlib.metadata.version(req.name)}")
EOF
"$VENV/bin/pip" check

echo "== tests"
nice -n 5 "$VENV/bin/python" -m pytest -x -q -p no:cacheprovider --timeout=300 \
  tests/data/test_data_tabular.py \
  tests/api/test_api_datasets.py \
  tests/api/test_api_hostile.py \
  tests/storage/test_storage_db.py \
  tests/storage/test_storage_repositories.py \
  tests/storage/test_storage_migrations.py \
  tests/report/test_pareto.py \
  tests/export/test_artifact_store.py \
  tests/export/test_export_api.py \
  tests/export/test_export_standalone.py \
  tests/report/test_report_html.py \
  tests/report/test_report_panels.py \
  tests/weighting/test_weighting_gradients.py \
  tests/api/test_api_examples.py \
  "tests/search/test_runner.py::test_search_finishes_its_budget" \
  "tests/search/test_runner.py::test_every_finished_trial_has_metrics_and_loadable_weights" \
  "$@"
