"""GET /healthz: is the database, Redis and at least one Celery worker answering?"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from compliance_portal.celery import app as celery_app

WORKER_PING_TIMEOUT = 1.0


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is reported, not raised: this is the health page
        return f"error: {type(exc).__name__}: {exc}".strip()
    return "ok"


def _check_redis() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "ok"


def _check_worker() -> str:
    try:
        replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    if not replies:
        return f"error: no Celery worker answered a ping within {WORKER_PING_TIMEOUT:g}s"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check_database(), "redis": _check_redis()}
    # Without Redis a worker ping cannot be sent; say so instead of waiting for a timeout.
    checks["worker"] = _check_worker() if checks["redis"] == "ok" else "error: Redis is down"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503
    )
