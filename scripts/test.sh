#!/usr/bin/env bash
# `make test`: start the test PostgreSQL and Redis (own ports and data), run pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh start test
if [ "${PORTAL_KEEP_SERVICES:-false}" != true ]; then
  trap 'scripts/services.sh stop test' EXIT
fi
set -a; eval "$(scripts/services.sh env test)"; set +a
export PORTAL_PROFILE=test
.venv/bin/python -m pytest "$@"
