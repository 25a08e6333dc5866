"""The ledger knows no roles: accounts registers who reads it (apps.ledger.readers), engagements the grants."""

from __future__ import annotations

import pytest

from apps.accounts import scoping
from apps.accounts.roles import Role
from apps.accounts.scoping import auditor_grants
from apps.ledger import readers
from apps.ledger.selectors import ledger_visible_to

pytestmark = pytest.mark.django_db


def test_accounts_decides_who_reads_the_ledger(make_user):
    assert ledger_visible_to(make_user(Role.COMPLIANCE_OFFICER))
    assert ledger_visible_to(make_user(Role.ADMIN))
    assert not ledger_visible_to(make_user(Role.ENGINEER))
    assert not ledger_visible_to(make_user(Role.AUDITOR))  # scoped, and no engagement is open


def test_without_the_accounts_registration_only_a_superuser_reads_the_ledger(make_user, monkeypatch):
    monkeypatch.setattr(readers, "_registered", [])
    superuser = make_user()
    superuser.is_superuser = True

    assert ledger_visible_to(superuser)
    assert not ledger_visible_to(make_user(Role.COMPLIANCE_OFFICER))
    assert not readers.ledger_readers().reads_everything(make_user(Role.ADMIN))


def test_without_the_engagements_provider_an_auditor_has_no_grant(make_user, monkeypatch):
    auditor = make_user(Role.AUDITOR)
    monkeypatch.setattr(scoping, "_grants_provider", [])

    assert auditor_grants(auditor) == []
