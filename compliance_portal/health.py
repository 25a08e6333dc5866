"""GET /healthz: are the database, Redis, a worker for each queue and the ledger keeping up?

Each check is "ok" or "error: <why>"; any error answers 503, so a load balancer or the container
health check takes the instance out. The ledger checks have limits (settings
PORTAL_HEALTH_LEDGER_LAG_SECONDS and PORTAL_HEALTH_CHECKPOINT_LAG_SECONDS): a stopped sequencer
leaves entries pending, and that turns /healthz red once the oldest waited longer than the limit.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.ledger.selectors import ledger_lag_summary
from compliance_portal.celery import app as celery_app

WORKER_PING_TIMEOUT = 1.0
HEAVY_QUEUE = "heavy"


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


def _check_workers() -> tuple[str, str]:
    """(default queue, heavy queue): one broadcast asks every worker which queues it consumes."""
    try:
        replies = celery_app.control.inspect(timeout=WORKER_PING_TIMEOUT).active_queues() or {}
    except Exception as exc:
        error = f"error: {type(exc).__name__}: {exc}"
        return error, error
    if not replies:
        error = f"error: no Celery worker answered a ping within {WORKER_PING_TIMEOUT:g}s"
        return error, error
    consumed = {queue["name"] for queues in replies.values() for queue in queues or ()}
    default_queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def state(queue: str) -> str:
        if queue in consumed:
            return "ok"
        return f"error: no Celery worker consumes the {queue} queue ({len(replies)} answered)"

    return state(default_queue), state(HEAVY_QUEUE)


def _age(moment, now) -> float | None:
    return None if moment is None else round(max((now - moment).total_seconds(), 0.0), 3)


def _check_ledger() -> tuple[str, str, dict]:
    """(sequencer check, checkpoint check, figures)."""
    try:
        lag = ledger_lag_summary()
    except Exception as exc:
        error = f"error: {type(exc).__name__}: {exc}"
        return error, error, {}
    now = timezone.now()
    figures = {
        "sequencer_lag_seconds": _age(lag["oldest_pending_at"], now),
        "checkpoint_lag_seconds": _age(lag["oldest_unchecked_at"], now),
        "checkpoint_age_seconds": _age(lag["checkpoint_at"], now),
    }
    ledger = "ok"
    pending_limit = settings.PORTAL_HEALTH_LEDGER_LAG_SECONDS
    if figures["sequencer_lag_seconds"] is not None and figures["sequencer_lag_seconds"] > pending_limit:
        ledger = (
            f"error: the ledger has not integrated for {figures['sequencer_lag_seconds']:.0f}s "
            f"(oldest pending entry; limit {pending_limit}s)"
        )
    checkpoint = "ok"
    checkpoint_limit = settings.PORTAL_HEALTH_CHECKPOINT_LAG_SECONDS
    if figures["checkpoint_lag_seconds"] is not None and figures["checkpoint_lag_seconds"] > checkpoint_limit:
        checkpoint = (
            f"error: entries sequenced {figures['checkpoint_lag_seconds']:.0f}s ago have no checkpoint "
            f"(limit {checkpoint_limit}s)"
        )
    return ledger, checkpoint, figures


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check_database(), "redis": _check_redis()}
    # Without Redis a worker ping cannot be sent; say so instead of waiting for a timeout.
    if checks["redis"] == "ok":
        checks["worker"], checks["worker_heavy"] = _check_workers()
    else:
        checks["worker"] = checks["worker_heavy"] = "error: Redis is down"
    figures: dict = {}
    if checks["database"] == "ok":
        checks["ledger"], checks["checkpoint"], figures = _check_ledger()
    else:
        checks["ledger"] = checks["checkpoint"] = "error: the database is down"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks, "ledger": figures},
        status=200 if healthy else 503,
    )
