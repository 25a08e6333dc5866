#!/usr/bin/env bash
# Project-local PostgreSQL and Redis on 127.0.0.1, data under var/<profile>/ (git-ignored).
#
#   scripts/services.sh start|stop|status|env  run|test|bench|fault
#
# "run" is what `make run` uses, "test" what `make test` uses, "bench" what `make bench`
# uses, "fault" what the fault-injection tests (tests/faults) stop and start: separate ports
# and data, so they never clash. Nothing system-wide is reconfigured: the Debian packages are
# installed if missing (as root), their default services are left alone.
set -euo pipefail

cmd=${1:?usage: services.sh start|stop|status|env run|test|bench|fault}
profile=${2:?usage: services.sh start|stop|status|env run|test|bench|fault}
root=$(cd "$(dirname "$0")/.." && pwd)
# PORTAL_SLOT lets several checkouts or agents run tests side by side (ports shift by slot*10).
# Ports stay below Linux's ephemeral range (32768+), so no outgoing connection can hold them.
slot=${PORTAL_SLOT:-0}
case "$profile" in
  run)  pg_port=$((25432 + slot * 10)); redis_port=$((26379 + slot * 10)) ;;
  test) pg_port=$((25442 + slot * 10)); redis_port=$((26389 + slot * 10)) ;;
  bench) pg_port=$((25502 + slot * 10)); redis_port=$((26449 + slot * 10)) ;;
  # tests/faults stops and restarts these mid-test, so they are never the shared test services.
  # PORTAL_FAULT_LANE (0-2) is the pytest-xdist worker's (tests/parallel.py): each has its own pair.
  # Ports end in 7-9 and 4-6: never those of run/test/bench (which end in 2 and 9) in any slot.
  fault)
    lane=${PORTAL_FAULT_LANE:-0}
    case "$lane" in 0|1|2) ;; *) echo "PORTAL_FAULT_LANE must be 0, 1 or 2" >&2; exit 2 ;; esac
    pg_port=$((25437 + slot * 10 + lane)); redis_port=$((26374 + slot * 10 + lane)) ;;
  *) echo "unknown profile $profile" >&2; exit 2 ;;
esac
var="$root/var/$profile${PORTAL_SLOT:+-$slot}"
[ "$profile" = fault ] && [ "${lane:-0}" != 0 ] && var="$var-lane$lane"
pgdata="$var/pg/data"
pgsock="$var/pg/sock"
db=portal

say() { echo "services[$profile]: $*" >&2; }

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/{17,16,15}/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  return 1
}

need_packages() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing ${missing[*]}: install them (sudo apt-get install -y ${missing[*]}) and run again"; exit 1
  fi
  say "installing ${missing[*]} from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system-wide services on the default ports; we do not use them.
}

# PostgreSQL refuses to run as root: as root we run it as the 'postgres' system user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_traversable() {
  # The postgres user must be able to reach $var; add only the search (x) bit where missing.
  [ "$(id -u)" = 0 ] || return 0
  local dir=$var
  while [ "$dir" != / ]; do
    if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then chmod o+x "$dir"; fi
    dir=$(dirname "$dir")
  done
}

pg_running() { as_pg "$(pg_bin)/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }
redis_running() { redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; }

start() {
  need_packages
  local bin; bin=$(pg_bin)
  mkdir -p "$var/pg" "$var/redis" "$pgsock"
  make_traversable
  [ "$(id -u)" = 0 ] && chown -R postgres: "$var/pg"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    say "initialising PostgreSQL in $pgdata"
    as_pg "$bin/initdb" -D "$pgdata" -U portal --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if pg_running; then
    say "PostgreSQL already running on 127.0.0.1:$pg_port"
  else
    as_pg "$bin/pg_ctl" -D "$pgdata" -l "$var/pg/postgres.log" -w -t 60 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $pgsock -c fsync=${PORTAL_PG_FSYNC:-on} -c synchronous_commit=${PORTAL_PG_FSYNC:-on} -c full_page_writes=${PORTAL_PG_FSYNC:-on} -c max_connections=200" start >/dev/null
    say "PostgreSQL started on 127.0.0.1:$pg_port"
  fi
  if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U portal -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U portal "$db"
  fi
  if redis_running; then
    say "Redis already running on 127.0.0.1:$redis_port"
  else
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$var/redis" --daemonize yes \
      --pidfile "$var/redis/redis.pid" --logfile "$var/redis/redis.log" \
      --appendonly yes --appendfsync everysec --save "" >/dev/null
    for _ in $(seq 50); do redis_running && break; sleep 0.1; done
    redis_running || { say "Redis did not start; see $var/redis/redis.log"; exit 1; }
    say "Redis started on 127.0.0.1:$redis_port"
  fi
}

stop() {
  if [ -f "$pgdata/PG_VERSION" ] && pg_bin >/dev/null && pg_running; then
    as_pg "$(pg_bin)/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
  fi
  if redis_running; then
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    say "Redis stopped"
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    pg_running && echo "postgres: running 127.0.0.1:$pg_port" || echo "postgres: stopped"
    redis_running && echo "redis: running 127.0.0.1:$redis_port" || echo "redis: stopped" ;;
  env)
    echo "DATABASE_URL=postgres://portal@127.0.0.1:$pg_port/$db"
    echo "REDIS_URL=redis://127.0.0.1:$redis_port/0"
    echo "PORTAL_VAR_DIR=$var" ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
