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

logins=$(.venv/bin/python manage.py seed_demo --list-logins | sed 's/^/    /')
banner() {
  cat <<MSG

  Compliance Portal: http://127.0.0.1:$PORT/   (health: http://127.0.0.1:$PORT/healthz)
  Demo logins (demo-only passwords, dev profile only):
$logins
  E-mails the portal sends are files in var/mail/.
  Ctrl-C stops the web server, worker, beat$($started_here && echo ", PostgreSQL and Redis").

MSG
}
banner
# The console is quiet in the dev profile (compliance_portal/logging.py): warnings, errors, one line
# per page or API request, one per slow or failed task.
.venv/bin/honcho start -f Procfile &
honcho=$!
trap 'kill -TERM $honcho 2>/dev/null; wait $honcho; exit 130' INT TERM
# Say it again once the web server answers: the processes' start-up lines pushed the first one away.
for _ in $(seq 1 120); do
  if .venv/bin/python - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/accounts/login/", timeout=60)
PY
  then
    echo "  Ready."
    banner
    break
  fi
  kill -0 $honcho 2>/dev/null || break
  sleep 1
done
wait $honcho
