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
# The suite runs serially by default. PORTAL_TEST_PROCESSES=2 runs it in two pytest-xdist processes
# (tests/parallel.py gives each its own database, Redis database, var directory and fault-stack ports);
# on this 2-core machine that saved ~1.5 of ~12.5 minutes, and three tests that wait on the Celery
# worker (tests/policy/test_gate_worker.py, test_rule_dry_run_worker.py, tests/ingest/test_connectors_mlflow.py)
# still time out under it, so it is not the default. An explicit -n/--numprocesses, -p no:xdist or --pdb wins.
procs=${PORTAL_TEST_PROCESSES:-1}
parallel=()
if [ "$procs" -gt 1 ]; then
  parallel=(-n "$procs" --dist loadgroup --no-loadscope-reorder)
  for arg in "$@"; do
    case "$arg" in -n|-n[0-9]*|--numprocesses|--numprocesses=*|no:xdist|--pdb) parallel=() ;; esac
  done
fi
.venv/bin/python -m pytest "${parallel[@]}" "$@"
