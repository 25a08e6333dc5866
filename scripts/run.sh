#!/usr/bin/env bash
# `make run`: services, migrations, demo data, then web + worker + beat until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PORT=${PORT:-8000}
export PATH="$root/.venv/bin:$PATH"
export PORTAL_PROFILE=${PORTAL_PROFILE:-dev}
started_here=false
scripts/services.sh status run | grep -q "postgres: running" || started_here=true
scripts/services.sh start run
# shellcheck disable=SC2046
export $(scripts/services.sh env run | xargs)
cleanup() {
  if $started_here; then scripts/services.sh stop run; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py seed_demo
.venv/bin/python manage.py collectstatic --no-input -v 0

cat <<MSG

  Compliance Portal: http://127.0.0.1:$PORT/   (health: http://127.0.0.1:$PORT/healthz)
  Demo logins (demo-only passwords, dev profile only):
$(.venv/bin/python manage.py seed_demo --list-logins | sed 's/^/    /')
  Ctrl-C stops the web server, worker, beat$($started_here && echo ", PostgreSQL and Redis").

MSG
.venv/bin/honcho start -f Procfile
