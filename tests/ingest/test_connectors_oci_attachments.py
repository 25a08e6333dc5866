"""Issue 20, hole 5: artifacts attached to an image on a registry as the tools leave it.

Debian's docker-registry (Distribution 2.8) has no referrers API. `oras attach` (oras 1.x) on it
pushes an OCI image manifest with `artifactType`, the empty config descriptor and a `subject`, and
writes no `sha256-<hex>` fallback index here; a tag given to the artifact (`sbom-1.0`) is the only
way to find it. cosign leaves its signature and attestation under the tags `sha256-<hex>.sig` and
`sha256-<hex>.att` (image manifests whose layers are the simple-signing payload and the DSSE
envelope). The helpers below write exactly those manifests.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from apps.connectors.models import SyncRun
from apps.connectors.services import source_connector_configure, source_sync
from apps.evidence.models import Artifact, Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from tests.ingest.conftest import fixture_bytes
from tests.ingest.servers import registry_server, require_tool
from tests.ingest.test_connectors_oci import (
    EMPTY,
    OCI_MANIFEST,
    REPO,
    Registry,
    build_and_push,
    copy_tag,
    parse_all,
)

pytestmark = pytest.mark.django_db(transaction=True)

EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    require_tool("umoci", "umoci")
    require_tool("skopeo", "skopeo")
    with registry_server(tmp_path_factory.mktemp("registry")) as host:
        yield host


def oras_attach(reg: Registry, subject: dict, payload: bytes, artifact_type: str, title: str, *, tag: str) -> str:
    """What `oras attach --artifact-type T <ref> file` pushes when the registry has no referrers API."""
    layer = reg.blob(payload)
    assert reg.blob(EMPTY) == EMPTY_DIGEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2,
                   "data": "e30="},
        "layers": [
            {
                "mediaType": artifact_type,
                "digest": layer,
                "size": len(payload),
                "annotations": {"org.opencontainers.image.title": title},
            }
        ],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2026-12-01T10:00:00Z"},
    }
    return reg.manifest(tag, manifest, OCI_MANIFEST)["digest"]


def cosign_tag(reg: Registry, subject_digest: str, suffix: str, payload: bytes, media_type: str, annotations: dict):
    """What cosign (legacy tag mode) pushes under `sha256-<hex>.<suffix>`."""
    layer = reg.blob(payload)
    config = json.dumps(
        {"architecture": "", "created": "0001-01-01T00:00:00Z", "os": "", "config": {},
         "rootfs": {"type": "layers", "diff_ids": [layer]}}
    ).encode()
    config_digest = reg.blob(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": config_digest},
        "layers": [{"mediaType": media_type, "size": len(payload), "digest": layer, "annotations": annotations}],
    }
    return reg.manifest(f"{subject_digest.replace(':', '-')}.{suffix}", manifest, OCI_MANIFEST)["digest"]


def test_an_oras_attached_sbom_without_fallback_tag_is_an_attachment_of_its_image(registry, tmp_path):
    host = registry
    build_and_push(tmp_path, host, "2.0", marker="attach")
    reg = Registry(host)
    image_descriptor = reg.descriptor("2.0")
    image_digest = image_descriptor["digest"]
    sbom_digest = oras_attach(
        reg, image_descriptor, fixture_bytes("cyclonedx_py_env.cdx.json"), "application/vnd.cyclonedx+json",
        "sbom.cdx.json", tag="sbom-1.0",
    )
    simple_signing = json.dumps(
        {"critical": {"identity": {"docker-reference": f"{host}/{REPO}"}, "image": {"docker-manifest-digest":
         image_digest}, "type": "cosign container image signature"}, "optional": None}
    ).encode()
    sig_digest = cosign_tag(
        reg, image_digest, "sig", simple_signing, "application/vnd.dev.cosign.simplesigning.v1+json",
        {"dev.cosignproject.cosign/signature": base64.b64encode(b"not-a-real-signature").decode()},
    )
    statement = json.loads(fixture_bytes("intoto_statement_slsa_v1.json"))
    statement["subject"] = [{"name": f"{host}/{REPO}", "digest": {"sha256": image_digest[7:]}}]
    envelope = json.dumps(
        {"payloadType": "application/vnd.in-toto+json",
         "payload": base64.b64encode(json.dumps(statement).encode()).decode(), "signatures": []}
    ).encode()
    att_digest = cosign_tag(
        reg, image_digest, "att", envelope, "application/vnd.dsse.envelope.v1+json",
        {"predicateType": statement["predicateType"]},
    )
    # As the tools leave it: no referrers API, no sha256-<hex> index.
    tags = json.loads(reg.http.request("GET", f"{reg.base}/tags/list").data)["tags"]
    assert f"sha256-{image_digest[7:]}" not in tags and "sbom-1.0" in tags

    creds = source_create(actor="system:test", kind="oci", name="registry as oras left it")
    source_connector_configure(
        actor="system:test", source_id=creds.source.pk, endpoint_url=f"http://{host}",
        options={"repositories": [REPO]},
    )
    run = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    parse_all(creds.source)
    assert list(Receipt.objects.filter(source=creds.source, state="failed").values_list("error", flat=True)) == []

    # The SBOM artifact is not an image, and its tag is not an image's tag.
    assert not Artifact.objects.filter(uri__endswith=sbom_digest).exists()
    assert not Evidence.objects.filter(source=creds.source, kind="image", summary__tags__contains=["sbom-1.0"]).exists()
    assert not Evidence.objects.filter(source=creds.source, kind="tag-move", summary__tag="sbom-1.0").exists()
    image = Artifact.objects.get(uri=f"oci://{host}/{REPO}@{image_digest}")
    assert Artifact.objects.filter(kind="image", uri__startswith=f"oci://{host}/{REPO}@").count() == 1
    # The image lists its three attachments, each with what it is.
    snapshot = Evidence.objects.filter(source=creds.source, kind="image", subject=image).latest("id")
    referrers = {r["digest"]: r["kind"] for r in snapshot.summary["referrers"]}
    assert referrers == {sbom_digest: "sbom", sig_digest: "signature", att_digest: "attestation"}
    # The SBOM's content is parsed as evidence about the image (its packages hang off it).
    sbom = Evidence.objects.get(source=creds.source, kind="sbom")
    assert sbom.subject_id == image.pk and sbom.format == "cyclonedx"
    assert Artifact.objects.filter(kind="package", uri__startswith="pkg:pypi/").exists()

    # Synced again, nothing changed: nothing new.
    assert source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND).new_receipts == 0



def test_a_sync_of_one_repository_reads_only_it_and_keeps_the_others_cursor(registry, tmp_path):
    """What a debounced registry notification queues: source_sync(repositories=[the one pushed to])."""
    host = registry
    build_and_push(tmp_path, host, "3.0", marker="one-repo")
    other = "team/other"
    subprocess.run(
        ["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{host}/{REPO}:3.0", f"docker://{host}/{other}:1.0"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    creds = source_create(actor="system:test", kind="oci", name="registry, all repositories")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=f"http://{host}")
    full = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert full.status == SyncRun.Status.SUCCEEDED, full.error
    assert {REPO, other} <= set(full.cursor["tags"])
    copy_tag(host, "3.0", "3.1")  # a change in the repository the sync will not read
    one = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.WEBHOOK, repositories=[other])
    assert one.status == SyncRun.Status.SUCCEEDED, one.error
    assert one.new_receipts == 0 and one.cursor["tags"][REPO] == full.cursor["tags"][REPO]  # not read, kept
    assert "3.1" in source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND).cursor["tags"][REPO]
