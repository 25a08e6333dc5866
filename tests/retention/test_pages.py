"""Retention pages: thin views over the services (status, template, what a compliance officer sees)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.retention.models import DataPolicy, LegalHold
from tests.retention.test_disposal import upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_officer_places_and_releases_a_hold_from_the_pages(client, compliance_officer, system, make_user):
    client.force_login(compliance_officer)
    response = client.post("/retention/holds/new/", {"scope": "system", "system": system.pk, "reason": "Subpoena 7"})
    hold = LegalHold.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/retention/holds/{hold.pk}/"
    assert client.post(f"/retention/holds/{hold.pk}/release/", {"reason": "Closed"}).status_code == 403
    client.force_login(make_user(Role.COMPLIANCE_OFFICER))  # a second officer releases it
    assert client.post(f"/retention/holds/{hold.pk}/release/", {"reason": "Closed"}).status_code == 302
    hold.refresh_from_db()
    assert hold.status == LegalHold.Status.RELEASED


def test_period_hold_covers_whole_days(client, compliance_officer):
    client.force_login(compliance_officer)
    client.post("/retention/holds/new/", {"scope": "period", "period_start": "2020-01-01",
                                          "period_end": "2020-12-31", "reason": "FY2020 audit"})
    hold = LegalHold.objects.get()
    assert (hold.period_end - hold.period_start) == timedelta(days=366)


def test_report_page_and_evidence_page_show_retention(client, compliance_officer, ci, system,
                                                      django_assert_max_num_queries):
    evidence = upload(ci, system, effective_at=timezone.now() - 2000 * timedelta(days=1))
    client.force_login(compliance_officer)
    with django_assert_max_num_queries(40):
        response = client.get(f"/retention/?system={system.slug}")
    assert response.status_code == 200 and b'data-count="due_now">1<' in response.content
    response = client.get(f"/evidence/{evidence.pk}/")
    assert b"data-kept-until" in response.content and b"Past retention" in response.content


def test_officer_sets_a_systems_redaction_rules(client, compliance_officer, system):
    client.force_login(compliance_officer)
    response = client.post(f"/retention/systems/{system.slug}/data-policy/", {"redaction_rules": ["commit-identities"]})
    assert response.status_code == 302
    assert DataPolicy.objects.get(system=system).redaction_rules == ["commit-identities"]
