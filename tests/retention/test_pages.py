"""Retention pages: thin views over the services (status, template, what a compliance officer sees)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.retention.models import DataPolicy, Disposal, LegalHold
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


def test_the_retention_page_names_the_policy_without_the_servers_file_path(client, compliance_officer, settings):
    """Issue 21, item 7: the page printed where the policy file lives on the server."""
    from apps.retention.policy import retention_policy

    policy = retention_policy()
    client.force_login(compliance_officer)
    body = client.get("/retention/").content.decode()
    assert policy.source.startswith("/")  # an absolute path on the server
    assert policy.source not in body and str(settings.BASE_DIR) not in body
    assert policy.source.rsplit("/", 1)[-1] in body  # its name, and
    assert policy.digest[:12] in body  # its digest, identify it


def test_the_retention_report_json_names_the_policy_without_the_servers_file_path(compliance_officer, settings):
    """Issue 21, item 2: the report's JSON (for packs) carried the policy's absolute path on the server."""
    import json

    from apps.retention.policy import retention_policy
    from apps.retention.selectors import retention_report

    policy = retention_policy()
    data = retention_report(user=compliance_officer).as_json()
    assert str(settings.BASE_DIR) not in json.dumps(data)
    assert data["policy"] == {"file": policy.file_name, "sha256": policy.digest}


def test_disposed_evidence_offers_no_download_and_says_when_it_was_disposed(client, compliance_officer, ci, system):
    """Issue 21, item 7: "Download raw" on disposed evidence answered 410."""
    from apps.retention.selectors import evidence_retention
    from apps.retention.services import retention_dispose_due

    evidence = upload(ci, system, effective_at=timezone.now() - 2000 * timedelta(days=1))
    client.force_login(compliance_officer)
    assert "Download raw" in client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert retention_dispose_due(now=evidence_retention(evidence).receipt_kept_until + timedelta(days=1)) == 1
    body = client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert "Download raw" not in body and f'href="/evidence/{evidence.pk}/raw"' not in body
    disposal = Disposal.objects.get(receipt=evidence.receipt)
    assert f"Raw body disposed of on {disposal.disposed_at:%Y-%m-%d}" in body and disposal.schedule in body
