"""The OCI connector against Debian's docker-registry (Distribution 2.8, no referrers API) on loopback.

Images are built with umoci and pushed with skopeo; attached artifacts (a CycloneDX SBOM and a SLSA
provenance attestation) are pushed as OCI 1.1 artifact manifests with a `subject`, and — because this
registry has no referrers API — listed in the referrers tag schema index `sha256-<hex>`, exactly as
the distribution spec tells a client to do.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import urllib3

from apps.connectors.models import SyncRun
from apps.connectors.services import source_connector_configure, source_sync
from apps.evidence.lineage import lineage_walk
from apps.evidence.models import Artifact, Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse, source_create
from tests.ingest.conftest import fixture_bytes
from tests.ingest.servers import registry_server, require_tool

pytestmark = pytest.mark.django_db(transaction=True)

REPO = "team/scorer"
SOURCE = "https://github.com/acme/fraud-model"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = b"{}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    require_tool("umoci", "umoci")
    require_tool("skopeo", "skopeo")
    with registry_server(tmp_path_factory.mktemp("registry")) as host:
        yield host


def build_and_push(tmp: Path, host: str, tag: str, *, marker: str) -> None:
    layout = tmp / f"layout-{marker}"
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, timeout=120)  # noqa: E731
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:{marker}")
    run(
        "umoci",
        "config",
        "--image",
        f"{layout}:{marker}",
        "--config.label",
        f"org.opencontainers.image.source={SOURCE}",
        "--config.label",
        f"org.opencontainers.image.revision={SHA}",
        "--config.label",
        f"build.marker={marker}",
    )
    run(
        "skopeo",
        "copy",
        "--insecure-policy",
        "--dest-tls-verify=false",
        f"oci:{layout}:{marker}",
        f"docker://{host}/{REPO}:{tag}",
    )


def copy_tag(host: str, source_tag: str, tag: str) -> None:
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--insecure-policy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{host}/{REPO}:{source_tag}",
            f"docker://{host}/{REPO}:{tag}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


class Registry:
    """The few Distribution API calls an OCI 1.1 client makes to attach an artifact."""

    def __init__(self, host: str):
        self.base = f"http://{host}/v2/{REPO}"
        self.http = urllib3.PoolManager()

    def blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = self.http.request("POST", f"{self.base}/blobs/uploads/")
        location = start.headers["Location"]
        url = location if location.startswith("http") else f"http://{self.base.split('/')[2]}{location}"
        done = self.http.request(
            "PUT",
            f"{url}{'&' if '?' in url else '?'}digest={digest}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status == 201, done.data
        return digest

    def manifest(self, reference: str, doc: dict, media_type: str) -> dict:
        body = json.dumps(doc).encode()
        response = self.http.request(
            "PUT", f"{self.base}/manifests/{reference}", body=body, headers={"Content-Type": media_type}
        )
        assert response.status == 201, response.data
        return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}

    def descriptor(self, reference: str) -> dict:
        response = self.http.request("GET", f"{self.base}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        return {
            "mediaType": response.headers["Content-Type"],
            "digest": response.headers["Docker-Content-Digest"],
            "size": len(response.data),
        }

    def attach(self, subject: dict, payload: bytes, media_type: str, title: str) -> str:
        layer = self.blob(payload)
        empty = self.blob(EMPTY)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": media_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [
                {
                    "mediaType": media_type,
                    "digest": layer,
                    "size": len(payload),
                    "annotations": {"org.opencontainers.image.title": title},
                }
            ],
            "subject": subject,
        }
        body_digest = "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
        descriptor = self.manifest(body_digest, manifest, OCI_MANIFEST)
        # No referrers API here: update the fallback index under the tag sha256-<hex>.
        tag = subject["digest"].replace(":", "-")
        current = self.http.request("GET", f"{self.base}/manifests/{tag}", headers={"Accept": OCI_INDEX})
        index = (
            json.loads(current.data)
            if current.status == 200
            else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        )
        index["manifests"].append({**descriptor, "artifactType": media_type})
        self.manifest(tag, index, OCI_INDEX)
        return descriptor["digest"]


def parse_all(source) -> None:
    for receipt in Receipt.objects.filter(source=source, state="queued").order_by("id"):
        receipt_parse(receipt_id=receipt.pk)


def test_images_tag_moves_and_attached_sboms_and_attestations_become_evidence(registry, tmp_path, admin_user):
    build_and_push(tmp_path, registry, "1.0", marker="one")
    copy_tag(registry, "1.0", "prod")
    reg = Registry(registry)
    first = reg.descriptor("1.0")
    sbom = fixture_bytes("cyclonedx_py_env.cdx.json")
    reg.attach(first, sbom, "application/vnd.cyclonedx+json", "sbom.cdx.json")
    provenance = json.loads(fixture_bytes("intoto_statement_slsa_v1.json"))
    provenance["subject"] = [{"name": f"{registry}/{REPO}", "digest": {"sha256": first["digest"][7:]}}]
    reg.attach(first, json.dumps(provenance).encode(), "application/vnd.in-toto+json", "provenance.intoto.json")

    creds = source_create(actor="system:test", kind="oci", name="registry")
    source_connector_configure(
        actor="system:test",
        source_id=creds.source.pk,
        endpoint_url=f"http://{registry}",
        options={"repositories": [REPO]},
    )
    run = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    parse_all(creds.source)
    assert list(Receipt.objects.filter(source=creds.source, state="failed").values_list("error", flat=True)) == []
    image = Artifact.objects.get(uri=f"oci://{registry}/{REPO}@{first['digest']}")
    kinds = set(Evidence.objects.filter(subject_links__artifact=image).values_list("kind", flat=True))
    assert {"image", "tag-move", "sbom", "provenance"} <= kinds
    sbom_evidence = Evidence.objects.get(subject=image, kind="sbom")
    assert sbom_evidence.receipt.channel == "pull" and sbom_evidence.format == "cyclonedx"
    upstream = {n.uri for n in lineage_walk(user=admin_user, artifact_id=image.pk, direction="upstream", depth=1).nodes}
    assert f"git+{SOURCE}@{SHA}" in upstream
    downstream = lineage_walk(user=admin_user, artifact_id=image.pk, direction="downstream", depth=1)
    assert any(n.kind == "deployment" and "/prod/" in n.uri for n in downstream.nodes)

    # Nothing changed: nothing new. Then prod moves to a new build: a tag move, a new image.
    assert source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND).new_receipts == 0
    build_and_push(tmp_path, registry, "1.1", marker="two")
    copy_tag(registry, "1.1", "prod")
    second = reg.descriptor("1.1")
    again = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    parse_all(creds.source)
    move = Evidence.objects.get(kind="tag-move", summary__tag="prod", summary__digest=second["digest"])
    assert move.summary["previous_digest"] == first["digest"]


def test_registry_notifications_are_accepted_with_the_bearer_token(client):
    creds = source_create(actor="system:test", kind="oci", name="registry push")
    envelope = {
        "events": [
            {
                "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
                "timestamp": "2024-05-01T12:00:00Z",
                "action": "push",
                "target": {
                    "mediaType": OCI_MANIFEST,
                    "size": 708,
                    "digest": "sha256:" + "fe" * 32,
                    "repository": REPO,
                    "url": f"http://registry.test:5000/v2/{REPO}/manifests/sha256:{'fe' * 32}",
                    "tag": "1.2",
                },
                "request": {
                    "id": "r1",
                    "addr": "10.0.0.5",
                    "host": "registry.test:5000",
                    "method": "PUT",
                    "useragent": "skopeo",
                },
                "actor": {"name": "ci"},
                "source": {"addr": "registry-1:5000", "instanceID": "i1"},
            }
        ]
    }
    body = json.dumps(envelope).encode()
    url = f"/api/v1/ingest/oci?source={creds.source.pk}"
    kind = "application/vnd.docker.distribution.events.v1+json"
    assert client.post(url, data=body, content_type=kind).status_code == 401
    auth = {"Authorization": f"Bearer {creds.token}"}
    response = client.post(url, data=body, content_type=kind, headers=auth)
    assert response.status_code == 202, response.content
    assert client.post(url, data=body, content_type=kind, headers=auth).json()["duplicate"] is True
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    evidence = Evidence.objects.get(receipt=receipt)
    assert (
        evidence.kind == "registry-event"
        and evidence.subject.uri == f"oci://registry.test:5000/{REPO}@sha256:{'fe' * 32}"
    )
    other = source_create(actor="system:test", kind="openlineage", name="not a registry")
    wrong = client.post(url, data=body, content_type=kind, headers={"Authorization": f"Bearer {other.token}"})
    assert wrong.status_code == 401
