"""Issue 18, hole 4: refused sign-off attempts are security events in the ledger."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from apps.releases.models import SignoffDecision
from apps.releases.services import release_approve, release_classify
from tests.approvals.helpers import ledger_entries

pytestmark = pytest.mark.django_db
REFUSED = "security.decision_refused"


def test_the_author_signing_off_is_refused_and_recorded(world, fresh):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)

    with pytest.raises(PermissionDenied, match="author"):
        release_approve(signoff_id=signoff.pk, approver=world.author, reauthenticated_at=fresh, digest=signoff.digest())

    assert not SignoffDecision.objects.exists()
    [event] = ledger_entries(action=REFUSED, object_id=signoff.pk)
    assert event["actor"]["id"] == str(world.author.pk)
    assert (event["data"]["attempt"], event["data"]["rule"]) == ("release.approve", "separation_of_duties")


def test_a_sign_off_without_fresh_reauthentication_is_recorded(world):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)

    with pytest.raises(PermissionDenied, match="Re-authenticate"):
        release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=None, digest=signoff.digest())

    [event] = ledger_entries(action=REFUSED, object_id=signoff.pk)
    assert event["data"]["rule"] == "reauthentication"


def test_a_stale_digest_sign_off_is_recorded(world, fresh):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    seen = signoff.digest()
    release_classify(artifact=world.artifact, change_class="clinical-risk", actor=world.engineer)

    with pytest.raises(ValidationError, match="changed while you were reading"):
        release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh, digest=seen)

    [event] = ledger_entries(action=REFUSED, object_id=signoff.pk)
    assert event["data"]["rule"] == "stale_digest" and event["data"]["digest"] == seen
