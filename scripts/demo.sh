#!/usr/bin/env bash
# The main job from a fresh machine: venv + install, then `automtl demo` (arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
exec .venv/bin/automtl demo "$@"
