"""Issue 20, lineage item 2: the overview shows one row per release, its chain commit -> build -> image ->
release -> deployment, with the missing link named in plain words ("no build links image X to a
commit"), in place of one yes/no per deployment; the evidence pack's lineage section does the same.

The release, pipeline run and deployment are GitHub's documented webhook examples parsed by the real
ingestion (as in test_lineage_release_chain); the release names its image by digest, and nothing says
which commit built that image."""

from __future__ import annotations

import json
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.evidence.lineage import release_chains_for_user
from apps.evidence.models import Artifact
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from apps.packs.models import Pack
from apps.packs.services import pack_build, pack_request

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "tests" / "ingest" / "parsers" / "data" / "github"
SHA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
REPO = "https://github.com/octo-org/fraud-model"
DIGEST = "sha256:7c09cc536d448301c9060d94bea46383e5ce61444768cde21eea7fd02006cb77"
IMAGE_REF = f"registry.demo.internal/team/scorer@{DIGEST}"
GAP = "no build links image scorer@sha256:7c09cc536d44 to a commit"


@pytest.fixture
def fraud(db):
    return System.objects.create(name="Fraud detection", slug="fraud-detection", risk_tier="high")


def _github(system: System, event: str, name: str, **changes) -> None:
    doc = json.loads((GITHUB / name).read_text())
    doc["repository"]["html_url"] = REPO
    doc["repository"]["full_name"] = "octo-org/fraud-model"
    for key, value in changes.items():
        doc[key] = {**doc[key], **value}
    creds = source_create(actor="system:test", kind="github", name=f"github {uuid.uuid4()}", system=system)
    receipt, _ = receipt_accept(source=creds.source, channel="github", body=json.dumps(doc).encode(), event=event,
                                enqueue=False)  # fmt: skip
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed", receipt.error


@pytest.fixture
def shipped(fraud):
    """v1.4.2: its commit has a pipeline run, it names its image, it is deployed; no build names the image."""
    _github(fraud, "workflow_run", "workflow_run.completed.json", workflow_run={"head_sha": SHA})
    _github(fraud, "release", "release.published.json",
            release={"tag_name": "v1.4.2", "target_commitish": SHA, "body": f"image: {IMAGE_REF}"})  # fmt: skip
    deployment = {"sha": SHA, "ref": "v1.4.2", "environment": "production", "payload": {"release_tag": "v1.4.2"}}
    _github(fraud, "deployment", "deployment.created.json", deployment=deployment)
    return Artifact.objects.get(uri=f"release:{REPO}@v1.4.2")


@pytest.mark.django_db
def test_the_overview_shows_each_release_chain_and_names_its_missing_link(client, compliance_officer, shipped):
    client.force_login(compliance_officer)
    page = client.get("/")
    assert page.status_code == 200
    chains = page.context["release_chains"]
    assert [c.release.pk for c in chains] == [shipped.pk]
    assert [(s["step"], s["ok"]) for s in chains[0].steps] == [
        ("commit", None), ("build", True), ("image", False), ("release", True), ("deployment", True),
    ]  # fmt: skip
    assert chains[0].gaps == [GAP]
    html = page.content.decode()
    assert f'data-release="{shipped.pk}"' in html and GAP in html
    assert "fraud-model@a94a8fe" in html  # the commit, by repository and short sha
    # The old row, one share of deployments with provenance yes/no, is gone.
    assert "Production deployments with complete provenance" not in html


def _image_built_from_commit(system: System) -> None:
    doc = json.loads((ROOT / "devtools" / "demo" / "data" / "07-oci-sync_image.json").read_text())
    doc["config"]["config"]["Labels"] = {"org.opencontainers.image.source": REPO,
                                         "org.opencontainers.image.revision": SHA}  # fmt: skip
    creds = source_create(actor="system:test", kind="oci", name=f"registry {uuid.uuid4()}", system=system)
    receipt, _ = receipt_accept(source=creds.source, channel="oci", body=json.dumps(doc).encode(), event="sync.image",
                                enqueue=False)  # fmt: skip
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"


@pytest.mark.django_db
def test_each_missing_link_is_named_with_the_commit_or_image_it_misses(compliance_officer, fraud):
    _image_built_from_commit(fraud)  # the commit built an image, but nothing ties that image to the release
    _github(fraud, "release", "release.published.json", release={"tag_name": "v1.4.2", "target_commitish": SHA})

    [chain] = release_chains_for_user(user=compliance_officer)
    assert chain.gaps == [
        "no provenance or pipeline run names commit fraud-model@a94a8fe",
        "no payload ties image scorer@sha256:7c09cc536d44 to this release",
        "no deployment names this release or its image",
    ]
    assert [s["text"] for s in chain.steps] == [
        "fraud-model@a94a8fe", "none", "scorer@sha256:7c09cc536d44", "fraud-model@v1.4.2", "none",
    ]  # fmt: skip


@pytest.mark.django_db
def test_more_releases_cost_the_overview_no_more_queries(compliance_officer, shipped, fraud):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            chains = release_chains_for_user(user=compliance_officer)
        return len(captured), len(chains)

    queries()  # the user's roles and scope are read once
    one, rows = queries()
    assert rows == 1
    for tag in ("v1.5.0", "v1.6.0", "v1.7.0"):
        _github(fraud, "release", "release.published.json", release={"tag_name": tag, "target_commitish": SHA,
                                                                     "body": f"image: {IMAGE_REF}"})  # fmt: skip
    assert queries() == (one, 4)


@pytest.mark.django_db
def test_a_complete_chain_says_so_and_an_auditor_without_an_engagement_sees_no_release(
    client, compliance_officer, auditor, shipped, fraud
):
    _image_built_from_commit(fraud)

    [chain] = release_chains_for_user(user=compliance_officer)
    assert chain.complete and chain.gaps == []
    assert release_chains_for_user(user=auditor) == []


@pytest.mark.django_db(transaction=True)
def test_the_pack_lineage_section_names_each_release_missing_link(
    shipped, fraud, compliance_officer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.PORTAL_PACK_ROOT = tmp_path / "packs"
    with django_capture_on_commit_callbacks(execute=False):
        pack = pack_request(user=compliance_officer, kind="system",
                            params={"system": fraud.slug, "start": "2000-01-01", "end": "2100-01-01"})  # fmt: skip
    pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    assert pack.status == Pack.Status.BUILT, pack.error
    with zipfile.ZipFile(settings.PORTAL_PACK_ROOT / pack.file) as zf:
        (tmp_path / "report.pdf").write_bytes(zf.read("report.pdf"))
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    flat = " ".join(text.split())
    assert "Release chains" in flat
    assert "fraud-model@v1.4.2" in flat
    assert GAP in flat
