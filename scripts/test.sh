#!/usr/bin/env bash
# The whole test suite from a fresh machine: venv + install, the PostgreSQL server the storage
# tests use (started if it is installed but stopped), Chromium for the report-page test (installed
# from Debian's packages when missing and possible), then pytest.  Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1

# PostgreSQL: find it, or start the local cluster if it is installed.  The tests skip their
# PostgreSQL half with a visible reason when no server can be had.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
fi

# Chromium renders the HTML report in one test; it skips with a reason when it cannot be had.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/tmp/automtl-chromium-install.log 2>&1 || echo "chromium install failed (see log); its test will skip"
fi

# Static checks first, each failing the run: ruff (style, imports), the import contracts
# (.importlinter) and mypy with the pydantic plugin over every package. The service folders are
# imported as automtl_api / automtl_storage (a package-dir mapping mypy cannot follow), so
# mypy sees them through links under a temporary directory.
.venv/bin/ruff check . || exit 1
.venv/bin/lint-imports || exit 1
MYPY_LINKS=$(mktemp -d)
trap 'rm -rf "$MYPY_LINKS"' EXIT
ln -s "$PWD/api" "$MYPY_LINKS/automtl_api" && ln -s "$PWD/storage" "$MYPY_LINKS/automtl_storage"
MYPYPATH="$MYPY_LINKS:$PWD" .venv/bin/mypy -p automtl -p search_spaces -p automtl_api \
  -p automtl_storage || exit 1

export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit $rc
