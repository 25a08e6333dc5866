"""The overview's expiring-exceptions card lists the busiest systems only, says how many there are,
and counts only systems the user may see (its cost must not grow with the number of systems)."""

from datetime import date

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from apps.accounts.roles import Role
from apps.exceptions.models import ExceptionMetricSnapshot
from apps.exceptions.selectors import exception_metrics_latest
from apps.exceptions.templatetags.exceptions_tags import CARD_SYSTEMS
from apps.inventory.models import System
from tests.engagements.conftest import open_engagement

pytestmark = pytest.mark.django_db


def snapshot(system, *, pending, active_high=0, day=date(2026, 11, 21)):
    return ExceptionMetricSnapshot.objects.create(
        day=day, system=system, pending=pending, active_high=active_high, computed_at=timezone.now()
    )


@pytest.fixture
def systems():
    """CARD_SYSTEMS + 3 busy systems (load 1…13), one idle, and yesterday's rollup that must be ignored."""
    busy = []
    for i in range(1, CARD_SYSTEMS + 4):
        s = System.objects.create(name=f"System {i:02d}", slug=f"system-{i:02d}")
        snapshot(s, pending=i % 2, active_high=i - i % 2)  # load i, split between pending and active
        busy.append(s)
    idle = System.objects.create(name="Idle", slug="idle")
    snapshot(idle, pending=0)
    snapshot(busy[0], pending=99, day=date(2026, 11, 20))
    return busy, idle


def render_card(user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load exceptions_tags %}{% expiring_exceptions_card %}").render(Context({"request": request}))


def test_the_card_lists_the_busiest_systems_and_says_how_many_there_are(systems, make_user):
    busy, idle = systems
    officer = make_user(Role.COMPLIANCE_OFFICER, username="co")

    rows, total = exception_metrics_latest(user=officer, limit=CARD_SYSTEMS)
    assert total == len(busy)  # the idle system has nothing pending or active
    assert [r.system.slug for r in rows] == [s.slug for s in reversed(busy)][:CARD_SYSTEMS]

    html = render_card(officer)
    assert html.count("<th scope=\"row\">") == CARD_SYSTEMS
    assert f"The {CARD_SYSTEMS} systems with the most pending and active exceptions, of {len(busy)}" in html
    assert "System 13" in html and "System 01" not in html and "Idle" not in html


def test_the_card_counts_only_the_systems_an_auditor_sees(systems, make_user):
    busy, _ = systems
    officer = make_user(Role.COMPLIANCE_OFFICER, username="co")
    auditor = make_user(Role.AUDITOR, username="aud")
    open_engagement(officer, auditors=[auditor], systems=busy[:2])

    rows, total = exception_metrics_latest(user=auditor, limit=CARD_SYSTEMS)
    assert total == 2 and [r.system.slug for r in rows] == ["system-02", "system-01"]
    html = render_card(auditor)
    assert html.count("<th scope=\"row\">") == 2 and "systems with the most" not in html and "System 13" not in html
