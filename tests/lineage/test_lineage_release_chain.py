"""Issue 20, hole 3: the release chain. commit -> build (pipeline run) -> image -> release -> deployment,
built wherever the payloads name the links (a deployment payload carrying an image digest or a release
tag, a release naming its image, OCI revision labels, pipeline runs), and per release the link that is
missing, named with the reason ("image -> release (no payload named the image digest)").

Payloads: GitHub's documented webhook examples (tests/ingest/parsers/data/github) and the registry
document recorded from a real docker-registry (devtools/demo/data), with the links a team's CD sets.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from apps.evidence.models import Artifact, LineageEdge
from apps.ingest.services import receipt_accept, receipt_parse, source_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "tests" / "ingest" / "parsers" / "data" / "github"
SHA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
REPO = "https://github.com/octo-org/fraud-model"
DIGEST = "sha256:7c09cc536d448301c9060d94bea46383e5ce61444768cde21eea7fd02006cb77"
IMAGE_REF = f"registry.demo.internal/team/scorer@{DIGEST}"
RELEASE_URI = f"release:{REPO}@v1.4.2"


def _parse(channel: str, event: str, doc: dict) -> None:
    creds = source_create(actor="system:test", kind=channel, name=f"{channel} {uuid.uuid4()}")
    receipt, _ = receipt_accept(source=creds.source, channel=channel, body=json.dumps(doc).encode(), event=event,
                                enqueue=False)  # fmt: skip
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed", receipt.error


def _github(name: str, **changes) -> dict:
    doc = json.loads((GITHUB / name).read_text())
    doc["repository"]["html_url"] = REPO
    doc["repository"]["full_name"] = "octo-org/fraud-model"
    for key, value in changes.items():
        doc[key] = {**doc[key], **value}
    return doc


def _image_built_from_commit() -> None:
    doc = json.loads((ROOT / "devtools" / "demo" / "data" / "07-oci-sync_image.json").read_text())
    doc["config"]["config"]["Labels"] = {"org.opencontainers.image.source": REPO,
                                         "org.opencontainers.image.revision": SHA}  # fmt: skip
    _parse("oci", "sync.image", doc)


def _pipeline_run() -> None:
    _parse("github", "workflow_run", _github("workflow_run.completed.json", workflow_run={"head_sha": SHA}))


def _release(body: str = "") -> None:
    _parse("github", "release", _github("release.published.json", release={
        "tag_name": "v1.4.2", "target_commitish": SHA, "body": body}))  # fmt: skip


def _deployment(payload: dict) -> None:
    _parse("github", "deployment", _github("deployment.created.json", deployment={
        "sha": SHA, "ref": "v1.4.2", "environment": "production", "payload": payload}))  # fmt: skip


def _chain(client, admin_user) -> dict:
    client.force_login(admin_user)
    release = Artifact.objects.get(uri=RELEASE_URI)
    answer = client.get(f"/api/v1/lineage/releases/{release.pk}/chain")
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_release_shows_its_full_chain_when_the_payloads_name_every_link(client, admin_user):
    _image_built_from_commit()
    _pipeline_run()
    _release(body=f"Ships `{IMAGE_REF}`.\n\nChangelog: …")
    _deployment({"image": IMAGE_REF, "release": "v1.4.2"})

    chain = _chain(client, admin_user)
    assert chain["complete"] is True, chain["missing"]
    assert chain["missing"] == []
    assert [(link["link"], link["present"]) for link in chain["links"]] == [
        ("commit -> build", True), ("build -> image", True), ("image -> release", True),
        ("release -> deployment", True),
    ]  # fmt: skip
    image = Artifact.objects.get(uri=f"oci://{IMAGE_REF}")
    release = Artifact.objects.get(uri=RELEASE_URI)
    deployment = Artifact.objects.get(kind="deployment", uri__contains="/production/")
    assert LineageEdge.objects.filter(source=image, target=release, relation="released-from").exists()
    edge = LineageEdge.objects.get(source=release, target=deployment, relation="deployed-from")
    assert edge.valid_from is not None and edge.valid_to is None


def test_a_release_whose_image_no_payload_named_says_which_link_is_missing(client, admin_user):
    _image_built_from_commit()
    _pipeline_run()
    _release()  # names its commit, not its image
    _deployment({"release_tag": "v1.4.2"})

    chain = _chain(client, admin_user)
    assert chain["complete"] is False
    assert chain["missing"] == ["image -> release (no payload named the image digest)"]
    # The image the commit built is offered as the candidate, not counted as the link.
    assert chain["candidates"]["images"] == [f"oci://{IMAGE_REF}"]

    page = client.get(f"/evidence/artifacts/{Artifact.objects.get(uri=RELEASE_URI).pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'missing</span> image -&gt; release (no payload named the image digest)' in body
    assert "missing</span> missing:" not in body  # the badge says it once


def test_a_release_never_deployed_names_the_deployment_link(client, admin_user):
    _release(body=f"image: {IMAGE_REF}")

    chain = _chain(client, admin_user)
    assert chain["missing"] == [
        "commit -> build (no provenance or pipeline run named the commit)",
        "build -> image (no provenance subject or OCI revision label named the image)",
        "release -> deployment (no deployment payload named the release tag or its image)",
    ]


def test_the_chain_of_an_artifact_that_is_no_release_is_refused(client, admin_user):
    _image_built_from_commit()
    client.force_login(admin_user)
    image = Artifact.objects.get(kind="image")
    answer = client.get(f"/api/v1/lineage/releases/{image.pk}/chain")
    assert answer.status_code == 400
    assert "not a release" in answer.json()["error"]


def test_a_gitlab_release_with_an_image_asset_link_names_its_image():
    from apps.formats import parse_webhook

    doc = json.loads((ROOT / "tests" / "ingest" / "parsers" / "data" / "gitlab" / "release_hook.json").read_text())
    doc["assets"]["links"].append({"id": 2, "external": True, "link_type": "image", "name": "Container image",
                                   "url": f"https://{IMAGE_REF}"})  # fmt: skip
    evidence = parse_webhook("gitlab", "Release Hook", json.dumps(doc).encode()).evidence[0]
    released = {(e.source.uri, e.target.uri, e.relation) for e in evidence.edges}
    release = next(s.uri for s in evidence.subjects if s.kind == "release")
    assert (f"oci://{IMAGE_REF}", release, "released-from") in released
    assert evidence.summary["images"] == [f"oci://{IMAGE_REF}"]
