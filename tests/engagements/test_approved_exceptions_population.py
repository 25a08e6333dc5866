"""Sampling "all approved exceptions": those of the engagement's systems in force during the observation window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.engagements.populations import POPULATIONS
from apps.engagements.services import sample_draw
from apps.exceptions.models import ExceptionRequest
from apps.policy.models import Control

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def exception_row(system, requester, *, status, approved_at=None, expires_at, ended_at=None, text="x"):
    """An incidental exception row in a given state (the population only reads them)."""
    now = timezone.now()
    return ExceptionRequest.objects.create(
        control=Control.objects.get(control_id="soc2-cc8-1"),
        system=system,
        justification=f"justification {text}",
        compensating_controls="compensating",
        likelihood=1,
        impact=1,
        tier="low",
        expires_at=expires_at,
        status=status,
        requested_by=requester,
        approved_at=approved_at,
        ended_at=ended_at,
        revoke_reason="revoked for the test" if status == "revoked" else "",
        created_at=(approved_at or now) - DAY,
        updated_at=now,
    )


def test_approved_exceptions_population_holds_those_in_force_in_the_window_of_the_engagements_systems(world):
    now = timezone.now()  # the world's observation window: the last 90 days
    S = ExceptionRequest.Status
    active = exception_row(world.system_in, world.officer, status=S.APPROVED, approved_at=now - 10 * DAY,
                           expires_at=now + 30 * DAY)
    expired_in_window = exception_row(world.system_in, world.officer, status=S.EXPIRED, approved_at=now - 80 * DAY,
                                      expires_at=now - 50 * DAY, ended_at=now - 50 * DAY)
    exception_row(world.system_in, world.officer, status=S.EXPIRED, approved_at=now - 300 * DAY,
                  expires_at=now - 200 * DAY, ended_at=now - 200 * DAY)  # over before the window
    exception_row(world.system_in, world.officer, status=S.PENDING, expires_at=now + 30 * DAY)  # never approved
    exception_row(world.system_out, world.officer, status=S.APPROVED, approved_at=now - 10 * DAY,
                  expires_at=now + 30 * DAY)  # another system

    items = POPULATIONS["approved-exceptions"].select(world.engagement)
    assert [i.key for i in items] == [
        f"exceptions.exceptionrequest:{expired_in_window.pk}",
        f"exceptions.exceptionrequest:{active.pk}",
    ]
    assert items[1].label.startswith(f"EX-{active.pk} CC8.1 on Payments API")

    sample = sample_draw(actor=world.auditor_in, engagement_id=world.engagement.pk,
                         population="approved-exceptions", size=2, seed="seed-1")
    assert sample.population_size == 2
    assert sorted(sample.items.values_list("object_id", flat=True)) == sorted([str(active.pk),
                                                                              str(expired_in_window.pk)])


def test_the_sample_page_links_a_drawn_exception(client, world):
    now = timezone.now()
    ex = exception_row(world.system_in, world.officer, status="approved", approved_at=now - DAY,
                       expires_at=now + DAY)
    sample = sample_draw(actor=world.auditor_in, engagement_id=world.engagement.pk,
                         population="approved-exceptions", size=1, seed="s")
    client.force_login(world.auditor_in)
    html = client.get(sample.get_absolute_url()).content.decode()
    assert f'href="/exceptions/{ex.pk}/"' in html
