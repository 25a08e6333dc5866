"""One way to void decisions on a material change, for every client of the approval engine."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.approvals.voiding import decisions_void
from apps.releases.models import SignoffDecision
from apps.releases.services import release_approve, release_classify
from tests.releases.conftest import _fast_password_hashing, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_voiding_marks_only_live_decisions_and_returns_their_ids(world):  # noqa: F811
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=timezone.now(),
                    digest=signoff.digest())  # fmt: skip
    live = signoff.decisions.filter(voided_at__isnull=True)
    now = timezone.now()

    ids = decisions_void(live, reason="x" * 400, now=now)

    [decision] = SignoffDecision.objects.filter(pk__in=ids)
    assert decision.voided_at == now and decision.void_reason == "x" * 300
    assert decisions_void(signoff.decisions.filter(voided_at__isnull=True), reason="again", now=now) == []


def test_both_clients_void_through_the_engine():
    """Reclassifying a release and editing an exception request void with the engine's function
    (their behaviour is tested in tests/releases and tests/exceptions)."""
    import apps.exceptions.services.helpers as exceptions_services
    import apps.releases.services as releases_services

    assert exceptions_services.decisions_void is decisions_void
    assert releases_services.decisions_void is decisions_void
