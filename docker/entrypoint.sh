#!/usr/bin/env bash
# Container entrypoint: runs one role of the service.
#   migrate      apply the database migrations (`automtl db upgrade`) and exit
#   api          the REST API only (`automtl serve --no-worker`; it applies the migrations too)
#                on $AUTOMTL_HOST:$AUTOMTL_PORT (default 0.0.0.0:8000)
#   worker       a job worker (`automtl worker`); with AUTOMTL_RAY_HEAD=1 it first starts a Ray
#                head node on $AUTOMTL_RAY_PORT (default 6379) that other workers and Ray nodes
#                join; with AUTOMTL_RAY_JOIN=<host>:<port> it first starts a Ray node of its own
#                that joins that head (Ray's driver needs a local node to connect through: a
#                bare `AUTOMTL_RAY_ADDRESS=<head>:<port>` without one fails with "Failed to
#                connect to Ray cluster"). Either way the worker then connects with
#                AUTOMTL_RAY_ADDRESS=auto and advertises the cluster's nodes.
#   ray-node     a Ray worker node joining $AUTOMTL_RAY_ADDRESS (adds CPUs/GPUs to trials)
# Both Ray node kinds take AUTOMTL_RAY_RESOURCES, a JSON object of custom resources this node
# offers (e.g. '{"gpu_like": 2}'), which jobs ask for with resources.custom.
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
        --include-dashboard=false --resources="${AUTOMTL_RAY_RESOURCES:-{\}}"
      export AUTOMTL_RAY_ADDRESS="${AUTOMTL_RAY_ADDRESS:-auto}"
    elif [ -n "${AUTOMTL_RAY_JOIN:-}" ]; then
      ray start --address="${AUTOMTL_RAY_JOIN}" --disable-usage-stats \
        --resources="${AUTOMTL_RAY_RESOURCES:-{\}}"
      export AUTOMTL_RAY_ADDRESS=auto
    fi
    exec automtl worker "$@"
    ;;
  ray-node)
    exec ray start --address="${AUTOMTL_RAY_ADDRESS:?set AUTOMTL_RAY_ADDRESS to the head node}" \
      --block --disable-usage-stats --resources="${AUTOMTL_RAY_RESOURCES:-{\}}" "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
