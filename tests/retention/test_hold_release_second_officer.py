"""Issue 18: the officer who placed a legal hold does not release it alone; a second compliance officer does."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied

from apps.accounts.roles import Role
from apps.inventory.models import System
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.retention.models import LegalHold
from apps.retention.services import legal_hold_place, legal_hold_release

pytestmark = pytest.mark.django_db


def test_the_officer_who_placed_a_hold_cannot_release_it_and_is_told_who_can(make_user):
    placer = make_user(Role.COMPLIANCE_OFFICER, username="pat")
    second = make_user(Role.COMPLIANCE_OFFICER, username="quinn")
    system = System.objects.create(name="Payments", slug="payments", risk_tier="high")
    hold = legal_hold_place(actor=placer, scope="system", system=system, reason="Litigation: Doe v. Payments")

    with pytest.raises(PermissionDenied, match="quinn"):
        legal_hold_release(actor=placer, hold_id=hold.pk, reason="Matter settled")
    hold.refresh_from_db()
    assert hold.status == LegalHold.Status.ACTIVE
    refused = [
        json.loads(bytes(c))
        for model in (LedgerEntry, PendingEntry)
        for c in model.objects.filter(action="security.decision_refused").values_list("canonical", flat=True)
    ]
    assert [(e["data"]["attempt"], e["data"]["rule"]) for e in refused] == [
        ("legal_hold.release", "separation_of_duties")
    ]

    hold = legal_hold_release(actor=second, hold_id=hold.pk, reason="Matter settled; counsel's letter")
    assert hold.status == LegalHold.Status.RELEASED and hold.released_by == second
