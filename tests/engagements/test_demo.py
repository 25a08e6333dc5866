"""seed_demo opens an engagement for the demo auditor, through the services, once."""

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.engagements.models import Engagement, EvidenceRequest
from apps.evidence.selectors import evidence_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.ledger.models import LedgerEntry, PendingEntry

pytestmark = pytest.mark.django_db


def test_the_demo_auditor_has_an_open_engagement_with_a_pbc_list(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo")
    call_command("seed_demo")

    engagement = Engagement.objects.get()
    auditor = User.objects.get(username="auditor")
    assert list(engagement.auditors.all()) == [auditor] and engagement.frameworks == ["soc2"]
    assert {s.slug for s in system_list_for_user(user=auditor)} == {"payments-api", "credit-scoring",
                                                                     "clinical-records"}
    assert evidence_list_for_user(user=auditor).filter(system__slug="payments-api").exists()
    assert not evidence_list_for_user(user=auditor).filter(system__slug="marketing-site").exists()

    requests = EvidenceRequest.objects.filter(engagement=engagement)
    assert sorted(r.status for r in requests) == sorted([EvidenceRequest.Status.OPEN, EvidenceRequest.Status.ANSWERED])
    answered = requests.get(status=EvidenceRequest.Status.ANSWERED)
    assert answered.items.filter(evidence__system__slug="payments-api").exists()
    opened = [m.objects.filter(action="engagement.opened").count() for m in (PendingEntry, LedgerEntry)]
    assert sum(opened) == 1, "opened once, through the service that records it"
    # Opened at a signed checkpoint, so its page can prove nothing was rewritten since.
    assert engagement.opening_checkpoint_size and engagement.opening_checkpoint_size > 0
