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
# With no selection of its own (no path, node id, -m or -k), the whole suite runs as two pytest sessions:
# the fast lane (no real process or server but PostgreSQL and Redis) in PORTAL_TEST_PROCESSES pytest-xdist
# processes (2 by default; tests/parallel.py gives each its own database, Redis database and var directory),
# then the slow lane (marker `slow`: Celery workers, Chromium, live servers, the fault stack) as a session of
# its own, in as many fresh processes. The slow lane's own processes keep what a thousand fast tests leave in a
# pytest process (Celery's and kombu's connection state, threads, module globals) away from the tests that
# wait on a real worker; they spend most of their time waiting on workers, browsers and servers, so two of
# them overlap those waits on two cores.
# With a selection, one pytest session runs it, serially unless -n is given.
procs=${PORTAL_TEST_PROCESSES:-2}
selected=false
for arg in "$@"; do
  case "$arg" in -m|-m*|-k|-k*|--deselect*|@*|tests|tests/*|*.py|*::*) selected=true ;; esac
done
pytest=(.venv/bin/python -m pytest)
if [ "$selected" = true ]; then
  "${pytest[@]}" "$@"; exit $?
fi
parallel=()
if [ "$procs" -gt 1 ]; then
  parallel=(-n "$procs" --dist loadgroup --no-loadscope-reorder)
  for arg in "$@"; do
    case "$arg" in -n|-n[0-9]*|--numprocesses|--numprocesses=*|no:xdist|--pdb) parallel=() ;; esac
  done
fi
status=0
echo "make test: the fast lane (${procs} process(es))"
"${pytest[@]}" -m "not slow" "${parallel[@]}" "$@" || status=$?
echo "make test: the slow lane (${procs} process(es))"
"${pytest[@]}" -m slow "${parallel[@]}" "$@" || status=$((status ? status : $?))
exit "$status"
