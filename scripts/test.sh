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
# The whole suite runs in two processes (pytest-xdist; tests/parallel.py gives each its own database,
# Redis database, var directory and fault-stack ports). Named test paths run serially: two processes
# cost ~15-25 s more to start (two test databases), more than a small part gains. PORTAL_TEST_PROCESSES
# sets the number either way (1: serially); an explicit -n/--numprocesses, -p no:xdist or --pdb wins.
procs=${PORTAL_TEST_PROCESSES:-}
if [ -z "$procs" ]; then
  procs=2
  for arg in "$@"; do
    [ -e "${arg%%::*}" ] && procs=1
  done
fi
parallel=()
if [ "$procs" -gt 1 ]; then
  parallel=(-n "$procs" --dist loadgroup --no-loadscope-reorder)
  for arg in "$@"; do
    case "$arg" in -n|-n[0-9]*|--numprocesses|--numprocesses=*|no:xdist|--pdb) parallel=() ;; esac
  done
fi
.venv/bin/python -m pytest "${parallel[@]}" "$@"
