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
# Bytecode is cached (__pycache__, git-ignored), whatever the shell says: a run starts dozens of Python processes
# (pytest and its xdist workers, Celery workers, servers, manage.py), and with PYTHONDONTWRITEBYTECODE each
# compiled the project's modules again (a pytest collection: 9 s of CPU instead of 5). Compiled once up front.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 2 apps compliance_portal devtools >/dev/null
# With no selection of its own (no path, node id, -m or -k), the whole suite runs as two pytest sessions side
# by side: the fast lane (no real process or server but PostgreSQL and Redis) in PORTAL_TEST_PROCESSES
# pytest-xdist processes (2 by default; tests/parallel.py gives each its own database, Redis database and var
# directory), and the slow lane (marker `slow`: Celery workers, Chromium, live servers, the fault stack) in as
# many processes of its own, on a PostgreSQL and Redis of its own (service slot PORTAL_SLOT + 50, so the two
# sessions share no database, Redis database, var directory or fault port). The slow lane's waits on workers,
# browsers and servers overlap the fast lane's CPU work, so side by side they take less than one after the
# other; the whole run is still bound by the two cores (docs/operations.md, "The test suite"). The fast lane
# prints to the terminal; the slow lane's output follows when both are done (and stays in
# var/test-<slot>/slow-lane.log). PORTAL_TEST_LANES=one-after-the-other runs the slow lane after the fast one,
# on the same services, as before.
# With a selection, one pytest session runs it, serially unless -n is given.
procs=${PORTAL_TEST_PROCESSES:-2}
lanes=${PORTAL_TEST_LANES:-side-by-side}
case "$lanes" in side-by-side|one-after-the-other) ;; *) echo "PORTAL_TEST_LANES: side-by-side or one-after-the-other" >&2; exit 2 ;; esac
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
if [ "$lanes" = one-after-the-other ]; then
  echo "make test: the fast lane (${procs} process(es))"
  "${pytest[@]}" -m "not slow" "${parallel[@]}" "$@" || status=$?
  echo "make test: the slow lane (${procs} process(es))"
  "${pytest[@]}" -m slow "${parallel[@]}" "$@" || status=$((status ? status : $?))
  exit "$status"
fi

slow_slot=$(( ${PORTAL_SLOT:-0} + 50 ))
PORTAL_SLOT=$slow_slot PORTAL_PG_FSYNC=${PORTAL_PG_FSYNC:-off} scripts/services.sh start test
slow_env=$(PORTAL_SLOT=$slow_slot scripts/services.sh env test)
slow_var=$(sed -n 's/^PORTAL_VAR_DIR=//p' <<<"$slow_env")
slow_log="$slow_var/slow-lane.log"
slow_pid=
stop_all() {
  # An interrupted run takes the slow lane's whole process group (pytest, xdist, workers, browsers) with it.
  if [ -n "$slow_pid" ] && kill -0 "$slow_pid" 2>/dev/null; then kill -- "-$slow_pid" 2>/dev/null || true; fi
  [ -n "${slow_tmp:-}" ] && rm -rf "$slow_tmp"
  if [ "${PORTAL_KEEP_SERVICES:-false}" != true ]; then
    PORTAL_SLOT=$slow_slot scripts/services.sh stop test
    scripts/services.sh stop test
  fi
}
trap stop_all EXIT
echo "make test: the fast lane (${procs} process(es)) and, beside it, the slow lane (${procs} process(es), output in $slow_log)"
started=$SECONDS
slow_tmp=$(mktemp -d /tmp/portal-slow-lane.XXXXXX)
setsid -w bash -c 'set -a; eval "$1"; set +a; export PORTAL_SLOT=$2; shift 2; exec "$@"' _ \
  "$slow_env" "$slow_slot" "${pytest[@]}" -m slow "${parallel[@]}" --basetemp="$slow_tmp" "$@" \
  >"$slow_log" 2>&1 &
slow_pid=$!
"${pytest[@]}" -m "not slow" "${parallel[@]}" "$@" || status=$?
echo "make test: the fast lane ended after $((SECONDS - started)) s; waiting for the slow lane"
wait "$slow_pid" || status=$((status ? status : $?))
slow_pid=
echo "make test: the slow lane (ended after $((SECONDS - started)) s):"
cat "$slow_log"
exit "$status"
