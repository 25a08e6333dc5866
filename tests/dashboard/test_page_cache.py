"""The overview and system pages reuse what they computed only while the data under it is unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.inventory.models import System
from apps.policy.models import Control, ControlResult, CoverageSnapshot, Framework, RuleVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def system():
    return System.objects.create(name="Cache test service", slug="cache-test", risk_tier="high", frameworks=["soc2"])


def _snapshot(system, *, passing: int, applicable: int = 10) -> CoverageSnapshot:
    """Today's SOC 2 rollup of the system, written the way coverage_snapshot() upserts it (new computed_at)."""
    framework = Framework.objects.get(code="soc2")
    row, _ = CoverageSnapshot.objects.update_or_create(
        day=timezone.localdate(), framework=framework, system=system,
        defaults={"controls_total": 14, "applicable": applicable, "passing": passing, "failing": applicable - passing,
                  "missing": 0, "excepted": 0, "coverage": passing / applicable, "control_status": {},
                  "computed_at": timezone.now()},
    )  # fmt: skip
    return row


def test_the_overview_shows_a_new_rollup_at_once(client, compliance_officer, system):
    client.force_login(compliance_officer)
    _snapshot(system, passing=3)
    assert "(3 of 10 applicable" in client.get("/").content.decode()
    assert "(3 of 10 applicable" in client.get("/").content.decode()  # served again (from the cache)
    _snapshot(system, passing=7)  # the beat task's next run
    assert "(7 of 10 applicable" in client.get("/").content.decode()


def test_a_renamed_system_is_shown_with_its_new_name_at_once(client, compliance_officer, system):
    client.force_login(compliance_officer)
    _snapshot(system, passing=3)
    assert "Cache test service" in client.get("/").content.decode()
    system.name = "Renamed service"
    system.save()
    body = client.get("/").content.decode()
    assert "Renamed service" in body and "Cache test service" not in body


def test_the_system_page_shows_a_changed_result_at_once(client, compliance_officer, system):
    version = RuleVersion.objects.filter(current_of__isnull=False, controls__contains=["soc2-cc7-1"]).first()
    control = Control.objects.get(control_id="soc2-cc7-1")
    result = ControlResult.objects.create(
        control=control, rule=version.rule, rule_version=version, system=system, artifact=None,
        status="fail", reason="generated: failing", evaluated_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    client.force_login(compliance_officer)
    body = client.get(f"/systems/{system.slug}/").content.decode()
    assert "generated: failing" in body
    assert "generated: failing" in client.get(f"/systems/{system.slug}/").content.decode()
    # What policy_evaluate() does on a change: new status and reason, evaluated_at moves.
    ControlResult.objects.filter(pk=result.pk).update(status="pass", reason="generated: fixed",
                                                      evaluated_at=timezone.now())  # fmt: skip
    body = client.get(f"/systems/{system.slug}/").content.decode()
    assert "generated: fixed" in body and "generated: failing" not in body


def test_the_pages_render_without_the_cache_when_redis_is_unreachable(client, compliance_officer, system, settings):
    # A real Redis client pointed at a port nothing listens on: every cache call fails to connect.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0", "KEY_PREFIX": "portal"}}  # fmt: skip
    _snapshot(system, passing=4)
    client.force_login(compliance_officer)
    assert "(4 of 10 applicable" in client.get("/").content.decode()
    assert client.get(f"/systems/{system.slug}/").status_code == 200
