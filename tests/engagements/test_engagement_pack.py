"""An engagement's evidence pack carries the engagement's record: review marks with comments, and each
sample (seed, population, size, items and their test results) — in the PDF a third party reads."""

from __future__ import annotations

import subprocess
import zipfile

import pytest

from apps.engagements.services import evidence_review_mark, sample_draw, sample_item_test
from apps.packs.models import Pack
from apps.packs.services import pack_build, pack_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _pack_root(settings, tmp_path):
    settings.PORTAL_PACK_ROOT = tmp_path / "packs"


def build_engagement_pack(user, engagement, django_capture_on_commit_callbacks) -> Pack:
    with django_capture_on_commit_callbacks(execute=False):  # the test builds it, not a worker
        pack = pack_request(user=user, kind="engagement", params={"engagement": engagement.pk})
    pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    assert pack.status == Pack.Status.BUILT, pack.error
    return pack


def pdf_of(settings, pack: Pack, tmp_path):
    with zipfile.ZipFile(settings.PORTAL_PACK_ROOT / pack.file) as zf:
        path = tmp_path / "report.pdf"
        path.write_bytes(zf.read("report.pdf"))
    return path


def pdf_text(path) -> str:
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


def test_the_engagement_pack_holds_the_reviews_and_the_samples_with_their_results(
    world, settings, tmp_path, django_capture_on_commit_callbacks
):
    auditor = world.auditor_in
    evidence_review_mark(actor=auditor, engagement_id=world.engagement.pk, evidence_id=world.evidence_in.pk,
                         mark="flagged", comment="The junit report omits the integration suite.")
    sample = sample_draw(actor=auditor, engagement_id=world.engagement.pk, population="all-evidence", size=1,
                         seed="pack-seed-42")
    item = sample.items.get()
    sample_item_test(actor=auditor, item_id=item.pk, result="failed", note="No approver recorded on the change.")

    pack = build_engagement_pack(auditor, world.engagement, django_capture_on_commit_callbacks)
    path = pdf_of(settings, pack, tmp_path)
    text = pdf_text(path)

    assert "8 Engagement record" in text
    # the review: evidence id, mark, the comment the owner sees, who
    assert f"E{world.evidence_in.pk}" in text and "FLAGGED" in text  # status labels print in capitals
    assert "The junit report omits the integration suite." in text
    assert "1 evidence item reviewed: 0 accepted, 1 flagged" in text
    # the sample: id, population, its size and digest, seed, size, item and result
    assert f"S-{sample.pk}" in text and "All evidence in the observation window" in text
    assert "pack-seed-42" in text
    assert sample.population_digest[:16] in text.replace(" ", "")
    assert "FAILED" in text and "0 passed, 1 failed, 0 not applicable, 0 not tested yet" in text
    assert item.label[:30] in text and f"evidence.evidence:{item.object_id}" in text
    assert "No approver recorded on the change." in text
    # nothing of the other system, and the section is in the contents
    assert world.evidence_out.title not in text
    assert text.count("8 Engagement record") >= 2  # heading and table of contents
    # the ledger section carries the draw and the test of the sample
    assert "sample.drawn" in text and "sample.item_tested" in text


def test_an_engagement_without_reviews_or_samples_says_so(
    world, settings, tmp_path, django_capture_on_commit_callbacks
):
    pack = build_engagement_pack(world.officer, world.engagement, django_capture_on_commit_callbacks)
    text = pdf_text(pdf_of(settings, pack, tmp_path))
    assert "No evidence was reviewed in this engagement." in text
    assert "No sample was drawn in this engagement." in text


def test_other_packs_have_no_engagement_record(world, settings, tmp_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        pack = pack_request(user=world.officer, kind="system", params={"system": world.system_in.slug,
                                                                         "start": "2000-01-01", "end": "2100-01-01"})
    pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    assert "Engagement record" not in pdf_text(pdf_of(settings, pack, tmp_path))
