#!/usr/bin/env bash
# `make test`: start the test PostgreSQL and Redis (own ports and data), run pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The test database never needs to survive a crash: no fsync, no synchronous commit.
# (tests/faults runs its own PostgreSQL with the durable defaults.)
PORTAL_PG_FSYNC=${PORTAL_PG_FSYNC:-off} scripts/services.sh start test
if [ "${PORTAL_KEEP_SERVICES:-false}" != true ]; then
  trap 'scripts/services.sh stop test' EXIT
fi
set -a; eval "$(scripts/services.sh env test)"; set +a
export PORTAL_PROFILE=test
.venv/bin/python -m pytest "$@"
