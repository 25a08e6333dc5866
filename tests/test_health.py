import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_503_and_names_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error:")
    assert body["checks"]["worker"] == "error: Redis is down"


def test_healthz_is_503_when_no_worker_answers(client):
    # No worker fixture in this module: Redis is up but nobody consumes the ping.
    body = client.get("/healthz").json()
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"].startswith("error: no Celery worker answered")
    assert body["status"] == "degraded"
