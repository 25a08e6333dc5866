"""Every page an auditor opens and every file they download is in the ledger and the engagement's access log."""

import pytest

from apps.engagements.selectors import engagement_access_log
from apps.ledger.models import PendingEntry
from apps.ledger.services import ledger_integrate_all

pytestmark = pytest.mark.django_db


def test_pages_and_downloads_are_recorded_against_the_engagement(client, world):
    client.force_login(world.auditor_in)
    client.get("/evidence/")
    client.get(f"/evidence/{world.evidence_in.pk}/")
    raw = client.get(f"/evidence/{world.evidence_in.pk}/raw")
    assert raw.status_code == 200
    client.get("/evidence/?format=csv")
    rows = engagement_access_log(engagement=world.engagement)
    views = [(r["action"], r["path"]) for r in rows]
    assert ("auditor.page_viewed", "/evidence/") in views
    assert ("auditor.page_viewed", f"/evidence/{world.evidence_in.pk}/") in views
    assert ("auditor.downloaded", f"/evidence/{world.evidence_in.pk}/raw") in views
    assert ("auditor.downloaded", "/evidence/?format=csv") in views
    download = next(r for r in rows if r["path"].endswith("/raw"))
    assert download["detail"] == world.evidence_in.sha256
    # recorded once, by the view, not again by the middleware
    assert sum(1 for r in rows if r["path"].endswith("/raw")) == 1


def test_the_log_reads_sequenced_entries_too(client, world):
    client.force_login(world.auditor_in)
    client.get("/systems/")
    ledger_integrate_all()
    rows = engagement_access_log(engagement=world.engagement)
    assert rows and rows[0]["index"] is not None and rows[0]["path"] == "/systems/"


def test_other_roles_are_not_logged_as_auditors(client, world, engineer):
    client.force_login(engineer)
    client.get("/evidence/")
    assert not PendingEntry.objects.filter(action__startswith="auditor.").exists()


def test_an_auditor_without_an_open_engagement_is_still_recorded(client, world):
    client.force_login(world.auditor_ended)
    client.get("/evidence/")
    entry = PendingEntry.objects.get(action="auditor.page_viewed")
    assert entry.object_type == "accounts.user" and entry.object_id == str(world.auditor_ended.pk)


def test_compliance_officers_see_the_access_log_page_and_csv(client, world):
    client.force_login(world.auditor_in)
    client.get("/systems/")
    client.force_login(world.officer)
    page = client.get(f"/engagements/{world.engagement.pk}/access/")
    assert page.status_code == 200 and "/systems/" in page.content.decode()
    csv = b"".join(client.get(f"/engagements/{world.engagement.pk}/access/?format=csv").streaming_content).decode()
    assert "auditor-in" in csv and "/systems/" in csv
