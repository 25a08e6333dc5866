"""An auditor sees exactly the systems and observation window of their open engagements, decided per request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.scoping import can_see_system, visible_system_ids
from apps.engagements.services import engagement_end, engagement_end_due
from apps.evidence.selectors import evidence_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.ledger.models import PendingEntry
from tests.engagements.conftest import open_engagement

pytestmark = pytest.mark.django_db


def test_auditor_sees_only_the_systems_of_their_open_engagement(world):
    assert visible_system_ids(world.auditor_in) == {world.system_in.pk}
    assert list(system_list_for_user(user=world.auditor_in)) == [world.system_in]
    assert not can_see_system(world.auditor_in, world.system_out.pk)


def test_auditor_sees_only_evidence_effective_within_the_observation_window(world):
    visible = set(evidence_list_for_user(user=world.auditor_in))
    assert visible == {world.evidence_in}  # not evidence_old (before the window), not evidence_out (other system)


def test_windows_are_paired_with_their_own_systems(world):
    """Two engagements: system A's evidence is never shown for system B's window."""
    now = timezone.now()
    open_engagement(
        world.officer,
        auditors=[world.auditor_in],
        systems=[world.system_out],
        name="Narrow",
        observation=(now - timedelta(days=300), now - timedelta(days=250)),
    )
    visible = set(evidence_list_for_user(user=world.auditor_in))
    assert visible == {world.evidence_in}  # evidence_out is in system_out but outside *its* window


def test_other_roles_see_everything(world, engineer, compliance_officer):
    assert visible_system_ids(engineer) is None
    assert set(evidence_list_for_user(user=compliance_officer)) == {
        world.evidence_in,
        world.evidence_old,
        world.evidence_out,
    }


def test_an_auditor_whose_engagement_ended_sees_nothing(world):
    assert visible_system_ids(world.auditor_ended) == set()
    assert not evidence_list_for_user(user=world.auditor_ended).exists()


def test_access_ends_for_an_open_session_on_the_next_request(client, world):
    client.force_login(world.auditor_in)
    assert client.get(f"/evidence/{world.evidence_in.pk}/").status_code == 200
    engagement_end(actor=world.officer, engagement_id=world.engagement.pk)
    assert client.get(f"/evidence/{world.evidence_in.pk}/").status_code == 404  # same session, no re-login
    assert client.get("/systems/").context["systems"].count() == 0


def test_a_user_with_auditor_and_another_role_keeps_that_role_s_view(world, make_user):
    from apps.accounts.roles import Role

    both = make_user(Role.AUDITOR, Role.ENGINEER)
    assert visible_system_ids(both) is None


def test_the_beat_task_records_engagement_ended_once_when_the_window_closes(world):
    before = PendingEntry.objects.filter(action="engagement.ended").count()
    assert engagement_end_due() == 1  # world.engagement_ended's window closed yesterday
    assert engagement_end_due() == 0  # safe to run twice
    assert PendingEntry.objects.filter(action="engagement.ended").count() == before + 1
    later = timezone.now() + timedelta(days=31)
    assert engagement_end_due(now=later) == 2  # the two open ones, once their windows close


def test_opening_records_the_ledger_entry_and_tells_the_auditors(world):
    entry = PendingEntry.objects.filter(action="engagement.opened", object_id=str(world.engagement.pk)).get()
    assert entry.actor_label == world.officer.username
    assert world.auditor_in.notifications.filter(title__contains=world.engagement.name).exists()


def test_only_auditors_can_be_an_engagement_s_auditors(world, engineer):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        open_engagement(world.officer, auditors=[engineer], systems=[world.system_in])


def test_only_officers_and_admins_open_engagements(world, engineer):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        open_engagement(world.auditor_in, auditors=[world.auditor_in], systems=[world.system_in])
