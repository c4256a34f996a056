#!/usr/bin/env bash
# Container entrypoint: runs one role of the service.
#   migrate      apply the database migrations (`automtl db upgrade`) and exit
#   api          the REST API only (`automtl serve --no-worker`; it applies the migrations too)
#                on $AUTOMTL_HOST:$AUTOMTL_PORT (default 0.0.0.0:8000)
#   worker       a job worker (`automtl worker`); with AUTOMTL_RAY_HEAD=1 it first starts a Ray
#                head node on $AUTOMTL_RAY_PORT (default 6379) that other workers and Ray nodes
#                join through AUTOMTL_RAY_ADDRESS=<host>:<port>
#   ray-node     a Ray worker node joining $AUTOMTL_RAY_ADDRESS (adds CPUs/GPUs to trials)
#   anything else   run as a command (e.g. `automtl token create alice`)
# The worker refuses to start on a database that is not migrated: run `migrate` (or the api) first.
set -euo pipefail

role="${1:-api}"
[ $# -gt 0 ] && shift

case "$role" in
  migrate)
    exec automtl db upgrade "$@"
    ;;
  api)
    export AUTOMTL_HOST="${AUTOMTL_HOST:-0.0.0.0}" AUTOMTL_PORT="${AUTOMTL_PORT:-8000}"
    exec automtl serve --no-worker "$@"
    ;;
  worker)
    if [ "${AUTOMTL_RAY_HEAD:-0}" = "1" ]; then
      ray start --head --port="${AUTOMTL_RAY_PORT:-6379}" --disable-usage-stats \
        --include-dashboard=false
      export AUTOMTL_RAY_ADDRESS="${AUTOMTL_RAY_ADDRESS:-auto}"
    fi
    exec automtl worker "$@"
    ;;
  ray-node)
    exec ray start --address="${AUTOMTL_RAY_ADDRESS:?set AUTOMTL_RAY_ADDRESS to the head node}" \
      --block --disable-usage-stats "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
