#!/usr/bin/env bash
# `make load`: mixed traffic (locust, headless, loopback only) against the production stack
# (Procfile processes, prod profile) on the bench PostgreSQL and Redis. LOAD_SECONDS (180),
# LOAD_USERS (12) and LOAD_DRAIN_SECONDS (600) bound it; exits non-zero on any error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh start bench
if [ "${PORTAL_KEEP_SERVICES:-false}" != true ]; then
  trap 'scripts/services.sh stop bench' EXIT
fi
set -a; eval "$(scripts/services.sh env bench)"; set +a
exec .venv/bin/python -m bench.load.driver "$@"
