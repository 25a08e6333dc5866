"""An auditor works an engagement end to end in Chromium — browse, search, follow lineage, raise an evidence
request, download the engagement's evidence pack (built by a real Celery worker) — then loses access when
its window closes."""

import re
import subprocess
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.engagements.models import Engagement, EvidenceRequest
from apps.engagements.selectors import engagement_access_log
from apps.engagements.services import engagement_end_due, evidence_review_mark
from apps.evidence.models import Artifact, LineageEdge
from apps.packs.models import Pack
from tests.conftest import TEST_PASSWORD
from tests.engagements.conftest import world  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def lineage_beyond_the_commit(world):  # noqa: F811
    """The evidence's commit → an image of the same system → an image of the out-of-scope system, both
    edges stated by the in-scope evidence (so only the scoping of nodes keeps the second one out)."""
    now = timezone.now()
    commit = world.evidence_in.subject
    image = Artifact.objects.create(kind="image", uri="oci://registry.example/payments@sha256:" + "1" * 64,
                                    name="payments-api:2.1", system=world.system_in, first_seen=now)
    secret = Artifact.objects.create(kind="image", uri="oci://registry.example/credit@sha256:" + "2" * 64,
                                     name="credit-secret-image", system=world.system_out, first_seen=now)
    for source, target in ((commit, image), (image, secret)):
        LineageEdge.objects.create(source=source, target=target, relation="built-from", evidence=world.evidence_in,
                                   created_at=now)
    world.evidence_in.subject_links.create(artifact=image, role="subject")
    return commit, image, secret


def test_auditor_browses_searches_follows_lineage_requests_evidence_downloads_a_pack_and_loses_access(
    live_server, page, world, celery_worker, tmp_path  # noqa: F811
):
    user_create(username="eng", password=None, roles=[Role.ENGINEER], first_name="Erin", last_name="Eng")
    auditor = world.auditor_in
    auditor.set_password(TEST_PASSWORD)
    auditor.save(update_fields=["password"])
    commit, image, secret = lineage_beyond_the_commit(world)
    evidence_review_mark(actor=auditor, engagement_id=world.engagement.pk, evidence_id=world.evidence_in.pk,
                         mark="flagged", comment="Three failing tests were released anyway.")
    console_errors = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(f"{page.url}: {msg.text}"))
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(auditor.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # the engagement, then the evidence in scope only
    page.locator("nav[aria-label=Main] [data-nav=engagements]").click()
    page.get_by_role("link", name=world.engagement.name).click()
    page.wait_for_url(f"{base}/engagements/{world.engagement.pk}/")
    page.get_by_role("link", name="Browse the evidence in scope").click()
    page.wait_for_url(re.compile(r"/evidence/\?system="))  # count() does not wait for the list to load
    page.wait_for_load_state()
    assert page.locator("#results tbody tr").count() == 1
    assert world.evidence_in.title[:30] in page.locator("#results").inner_text()

    # search finds what is in scope and nothing else; controls of the engagement's framework too
    page.goto(f"{base}/search/?q=pytest")
    assert page.locator("[data-hit]").count() >= 1
    page.goto(f"{base}/search/?q=credit")
    assert page.locator("[data-hit]").count() == 0
    page.goto(f"{base}/search/?q=soc2-cc8-1")
    assert page.locator("[data-hit]").count() == 1 and "CC8.1" in page.locator("[data-hit]").inner_text()

    # follow lineage: from the evidence to its commit, along the drawing to the image built from it
    page.goto(f"{base}/evidence/{world.evidence_in.pk}/")
    page.locator("section[aria-labelledby=subject-title]").get_by_role("link", name=commit.name or commit.uri).click()
    page.wait_for_url(f"{base}/evidence/artifacts/{commit.pk}/")
    page.wait_for_selector(".lineage-svg svg")
    assert page.locator(f"#lineage_node_{image.pk}").count() == 1
    assert page.locator(f"#lineage_node_{secret.pk}").count() == 0
    assert "credit-secret-image" not in page.content()
    page.locator(f"#lineage_node_{image.pk} a").first.click()
    page.wait_for_url(f"{base}/evidence/artifacts/{image.pk}/")
    assert "payments-api:2.1" in page.locator("h1").inner_text()
    assert "credit-secret-image" not in page.content()  # not drawn, not listed as a neighbour either

    # raise an evidence request on a control of the engagement's framework
    page.goto(f"{base}/engagements/{world.engagement.pk}/")
    page.get_by_role("link", name="Request evidence").click()
    page.get_by_label("System").select_option(str(world.system_in.pk))
    assert page.locator("select[name=control] option[value=gdpr-35-1]").count() == 0  # SOC 2 only
    page.get_by_label("Control").select_option("soc2-cc8-1")
    page.get_by_label("What is needed").fill("Change approvals for the quarter")
    page.get_by_label("Due date").fill((timezone.localdate() + timedelta(days=7)).isoformat())
    page.get_by_label("Assignee").select_option(label="Erin Eng (eng)")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_selector("[data-status=open]")
    assert EvidenceRequest.objects.filter(control__control_id="soc2-cc8-1", control_ref="soc2 CC8.1",
                                          assignee__username="eng").exists()

    # the engagement's evidence pack: requested here, built by the worker, downloaded as a ZIP
    page.goto(f"{base}/packs/")
    page.get_by_label("Audit engagement", exact=True).check()
    page.locator("select[name=engagement]").select_option(str(world.engagement.pk))
    page.get_by_role("button", name="Request the pack").click()
    pack = Pack.objects.get(requester=auditor)
    page.wait_for_url(f"{base}/packs/{pack.pk}/")
    page.wait_for_selector("#progress[data-status=built]", timeout=180_000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the ZIP").click()
    path = tmp_path / "pack.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        assert {"report.pdf", "manifest.json", "README.md"} <= set(zf.namelist())
        (tmp_path / "report.pdf").write_bytes(zf.read("report.pdf"))
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    text = " ".join(subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert "8 Engagement record" in text and "Three failing tests were released anyway." in text
    assert world.evidence_out.title not in text

    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors

    # the access window closes (the clock moves past access_end): the open session loses everything
    Engagement.objects.filter(pk=world.engagement.pk).update(access_end=timezone.now())
    gone = page.goto(f"{base}/evidence/{world.evidence_in.pk}/")
    assert gone.status == 404 and page.title().startswith("Page not found")  # the portal's 404 page (issue 21)
    assert world.evidence_in.title not in page.content()
    page.goto(f"{base}/evidence/")
    assert page.locator("#results tbody tr td.muted").count() == 1  # "No evidence matches."
    page.goto(f"{base}/engagements/")
    assert "You have no open engagement" in page.content()
    assert page.request.get(f"{base}/packs/{pack.pk}/download/").status in (403, 404)
    assert page.request.get(f"{base}/evidence/artifacts/{image.pk}/").status == 404
    assert engagement_end_due() >= 1  # the beat task records engagement.ended

    log = engagement_access_log(engagement=world.engagement)
    paths = [r["path"] for r in log]
    assert "/search/?q=pytest" in paths and f"/engagements/{world.engagement.pk}/requests/new/" in paths
    assert f"/evidence/artifacts/{commit.pk}/" in paths
    assert any(r["action"] == "auditor.downloaded" and r["path"] == f"/packs/{pack.pk}/download/" for r in log)
