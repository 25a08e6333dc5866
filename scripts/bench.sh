#!/usr/bin/env bash
# `make bench`: benchmarks against their own PostgreSQL and Redis (the "bench" service profile).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh start bench
if [ "${PORTAL_KEEP_SERVICES:-false}" != true ]; then
  trap 'scripts/services.sh stop bench' EXIT
fi
set -a; eval "$(scripts/services.sh env bench)"; set +a
export PORTAL_PROFILE=dev DEBUG=false DJANGO_SETTINGS_MODULE=bench.settings
export PORTAL_LEDGER_WITNESS_FILE="$PORTAL_VAR_DIR/ledger-checkpoints.jsonl"
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python -m bench.run "$@"
