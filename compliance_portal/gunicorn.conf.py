"""The production web server's configuration: `gunicorn -c compliance_portal/gunicorn.conf.py`.

One place for it (Procfile, docker-compose.yml and the Dockerfile pass only the address).
Not named ./gunicorn.conf.py on purpose: gunicorn would load that from the working
directory for every gunicorn started there (benchmarks, the fault-test stack), which pick their
own settings.

Threaded workers (gthread): an accept spends much of its time waiting — the blob's fsync, the
database commit, Redis — and threads let those waits overlap inside a worker, while one worker
process per core keeps the cores busy. Each thread holds its own database connection
(PORTAL_DB_CONN_MAX_AGE keeps it open), so PostgreSQL must allow WEB_CONCURRENCY × WEB_THREADS
connections plus the workers'.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_portal.settings")
from django.conf import settings as _settings  # noqa: E402 - after the settings module is named

wsgi_app = "compliance_portal.wsgi:application"
worker_class = "gthread"
# Worker processes: one per core by default (the cores the process may use).
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)))
threads = int(os.environ.get("WEB_THREADS") or 8)
# Keep-alive behind a reverse proxy (it reuses connections); sync workers could not.
keepalive = 5
timeout = 30
graceful_timeout = 10
backlog = 2048
# Logs: the project's one format (JSON lines in prod), and one access line per request with its
# request id, written by compliance_portal.logging.GunicornLogger (no --access-logfile needed).
logger_class = "compliance_portal.logging.GunicornLogger"
logconfig_dict = _settings.LOGGING


def post_worker_init(worker):
    """Batch parse messages in web workers (apps/ingest/dispatch.py): a Celery publish per accepted
    delivery costs as much CPU as a large part of the accept itself."""
    from apps.ingest.dispatch import dispatch_batching_start  # noqa: PLC0415 - gunicorn reads this file before Django is set up

    dispatch_batching_start()


def worker_exit(server, worker):
    """Send the parse messages still queued in this worker before it goes (graceful stop, restart)."""
    from apps.ingest.dispatch import dispatch_batching_stop  # noqa: PLC0415 - gunicorn reads this file before Django is set up

    dispatch_batching_stop()
