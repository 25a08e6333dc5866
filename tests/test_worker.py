"""A real Celery worker process against the real test database and Redis."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.accounts.tasks import sessions_clear
from tests.conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_healthz_is_green_with_database_redis_and_a_worker(client, celery_worker):
    response = client.get("/healthz")
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "worker": "ok", "worker_heavy": "ok", "ledger": "ok",
                              "checkpoint": "ok"}
    assert response.status_code == 200


def test_worker_clears_expired_sessions_and_keeps_live_ones(celery_worker):
    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(days=1))

    sessions_clear.delay()

    wait_until(lambda: not Session.objects.filter(session_key=expired.session_key).exists())
    assert Session.objects.filter(session_key=live.session_key).exists()
