"""Evidence browser, detail, raw download, artifact page; sources and receipts pages for admins."""

import pytest

from apps.accounts.roles import Role
from apps.evidence.models import Artifact, Evidence
from apps.ingest.models import Receipt, Source
from apps.ingest.services import receipt_accept, receipt_parse
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import COMMIT

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER, Role.AUDITOR]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_browses_evidence(client, make_user, parsed_evidence, role):
    if role == Role.AUDITOR:  # an auditor sees evidence only through an open engagement (issue 9)
        from apps.inventory.models import System
        from tests.engagements.conftest import engaged_auditor

        client.force_login(engaged_auditor(make_user, System.objects.all()))
    else:
        client.force_login(make_user(role))
    evidence = Evidence.objects.first()
    assert client.get("/evidence/").status_code == 200
    assert client.get(f"/evidence/{evidence.pk}/").status_code == 200
    assert client.get(f"/evidence/artifacts/{evidence.subject_id}/").status_code == 200
    expected = 200 if role == Role.ADMIN else 403
    assert client.get("/sources/").status_code == expected
    assert client.get("/receipts/").status_code == expected


def test_browser_list_runs_a_bounded_number_of_queries(client, auditor, parsed_evidence, django_assert_max_num_queries):
    for _ in range(15):  # more rows must not mean more queries
        receipt, _ = receipt_accept(
            source=Source.objects.get(name="ci"), channel="upload", body=b"<testsuite/>", subject=COMMIT, enqueue=False
        )
        receipt_parse(receipt_id=receipt.pk)
    client.force_login(auditor)
    # 12, plus for an auditor: their open engagements (2), the access-log ledger entry (3 with its
    # savepoint), and the unread-notification count (1).
    with django_assert_max_num_queries(18):
        response = client.get("/evidence/")
    assert response.status_code == 200 and response.content.count(b'href="/evidence/') >= 19


def test_browser_filters_by_verdict_and_returns_a_partial_to_htmx(client, auditor, parsed_evidence):
    client.force_login(auditor)
    response = client.get("/evidence/?verdict=fail", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and 'id="results"' in body
    assert body.count("verdict-fail") == 2 and "verdict-pass" not in body


def test_browser_filters_by_subject_kind_system_source_and_time(client, auditor, parsed_evidence):
    client.force_login(auditor)

    def rows(query):
        return client.get(f"/evidence/?{query}", headers={"HX-Request": "true"}).content.decode().count("<tr>") - 1

    assert rows("subject=https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625") == 4
    assert rows("kind=sbom") == 1
    assert rows("system=payments-api") == 4
    assert rows(f"source={Source.objects.get(name='gh').pk}") == 1
    assert (
        rows("until=2000-01-01") == 1
        and "No evidence matches" in client.get("/evidence/?until=2000-01-01").content.decode()
    )


def test_detail_shows_summary_both_times_sha256_and_other_evidence(client, auditor, parsed_evidence):
    client.force_login(auditor)
    evidence = Evidence.objects.get(kind="test-report")
    body = client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert evidence.sha256 in body and "Effective" in body and "Received" in body
    assert "Failing tests" in body and "Other evidence about" in body
    assert body.count('href="/evidence/') >= 3  # the other evidence about the commit is linked
    assert "evidence.recorded" in body  # the object's ledger timeline


def test_raw_download_is_an_attachment_with_nosniff(client, engineer, parsed_evidence):
    client.force_login(engineer)
    evidence = Evidence.objects.get(kind="test-report")
    response = client.get(f"/evidence/{evidence.pk}/raw")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment") and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"
    import hashlib

    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == evidence.sha256


def test_admin_creates_a_source_and_sees_its_credentials_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/sources/new/", {"kind": "github", "name": "gh-ui"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = response.content.decode()
    source = Source.objects.get(name="gh-ui")
    assert "cps_" in body and "data-secret" in body
    detail = client.get(f"/sources/{source.pk}/").content.decode()
    assert "data-token" not in detail and source.token_prefix in detail and "source.created" in detail


def test_admin_rotates_and_disables_a_source(client, admin_user, parsed_evidence):
    client.force_login(admin_user)
    source = Source.objects.get(name="ci")
    old_hash = source.token_hash
    assert client.post(f"/sources/{source.pk}/rotate/").status_code == 200
    assert Source.objects.get(pk=source.pk).token_hash != old_hash
    client.post(f"/sources/{source.pk}/enabled/", {"enabled": "false"})
    assert not Source.objects.get(pk=source.pk).enabled


def test_engineer_cannot_rotate_or_reparse(client, engineer, parsed_evidence):
    client.force_login(engineer)
    source = Source.objects.get(name="ci")
    assert client.post(f"/sources/{source.pk}/rotate/").status_code == 403
    assert client.post(f"/receipts/{parsed_evidence[0].pk}/reparse/").status_code == 403


def test_receipts_page_shows_failures_and_reparse_queues_again(
    client, admin_user, parsed_evidence, django_capture_on_commit_callbacks
):
    receipt, _ = receipt_accept(
        source=Source.objects.get(name="ci"),
        channel="upload",
        body=b"{broken",
        format_hint="sarif",
        subject=COMMIT,
        enqueue=False,
    )
    receipt_parse(receipt_id=receipt.pk)
    client.force_login(admin_user)
    page = client.get("/receipts/?state=failed").content.decode()
    assert f"#{receipt.pk}" in page and "not valid JSON" in page
    assert "Re-parse" in client.get(f"/receipts/{receipt.pk}/").content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/receipts/{receipt.pk}/reparse/")
    assert response.status_code == 302 and len(callbacks) == 1
    assert Receipt.objects.get(pk=receipt.pk).state == "queued"
    assert PendingEntry.objects.filter(action="receipt.requeued", object_id=str(receipt.pk)).exists()


def test_reparse_needs_post_and_csrf(admin_user, parsed_evidence):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get(f"/receipts/{parsed_evidence[0].pk}/reparse/").status_code == 405
    assert client.post(f"/receipts/{parsed_evidence[0].pk}/reparse/").status_code == 403


def test_artifact_page_shows_its_evidence_and_lineage(client, auditor, parsed_evidence):
    client.force_login(auditor)
    commit = Artifact.objects.get(uri=COMMIT)
    body = client.get(f"/evidence/artifacts/{commit.pk}/").content.decode()
    assert body.count("/evidence/") >= 4
    sbom_main = Artifact.objects.get(uri="pkg:generic/evidence-demo@0.1.0")
    assert "depends-on" in client.get(f"/evidence/artifacts/{sbom_main.pk}/").content.decode()
