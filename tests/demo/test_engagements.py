"""seed_demo opens the demo auditor's engagements (SOC 2 and HIPAA), through the services, once each
(conftest.py seeds twice)."""

import pytest

from apps.accounts.models import User
from apps.engagements.models import Engagement, EvidenceRequest
from apps.evidence.selectors import evidence_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.ledger.models import LedgerEntry, PendingEntry

pytestmark = pytest.mark.django_db


def test_the_demo_auditor_has_an_open_engagement_with_a_pbc_list(seeded_demo):

    assert Engagement.objects.count() == 2
    engagement = Engagement.objects.get(frameworks=["soc2"])
    hipaa = Engagement.objects.get(frameworks=["hipaa"])
    auditor = User.objects.get(username="auditor")
    assert list(engagement.auditors.all()) == [auditor] == list(hipaa.auditors.all())
    assert {s.slug for s in engagement.systems.all()} == {"payments-api", "credit-scoring", "clinical-records"}
    assert {s.slug for s in hipaa.systems.all()} == {"clinical-records", "patient-triage", "data-platform"}
    assert {s.slug for s in system_list_for_user(user=auditor)} == {
        "payments-api",
        "credit-scoring",
        "clinical-records",
        "patient-triage",
        "data-platform",
    }
    assert evidence_list_for_user(user=auditor).filter(system__slug="payments-api").exists()
    assert not evidence_list_for_user(user=auditor).filter(system__slug="marketing-site").exists()

    requests = EvidenceRequest.objects.filter(engagement=engagement)
    assert sorted(r.status for r in requests) == sorted([EvidenceRequest.Status.OPEN, EvidenceRequest.Status.ANSWERED])
    answered = requests.get(status=EvidenceRequest.Status.ANSWERED)
    assert answered.items.filter(evidence__system__slug="payments-api").exists()
    opened = [m.objects.filter(action="engagement.opened").count() for m in (PendingEntry, LedgerEntry)]
    assert sum(opened) == 2, "each opened once, through the service that records it"
    # Opened at a signed checkpoint, so its page can prove nothing was rewritten since.
    assert engagement.opening_checkpoint_size and engagement.opening_checkpoint_size > 0
