"""Issue 20, hole 6: a burst of registry notifications is not 34 evidence rows, bogus images and 34 syncs.

The envelopes are shaped like Distribution 2.8's (`notifications/event.go`): one event per envelope,
manifest events with the manifest media type, a `/manifests/` URL and the tag; blob events (push,
pull, mount, delete) with the layer or config media type and a `/blobs/` URL; deletes by digest
without a URL. The burst: two images pushed to demo/app and one to demo/worker (blobs, mounts and
manifests), prod moved, 21 pulls, then the image running in prod deleted.
"""

from __future__ import annotations

import functools
import json
import uuid

import pytest

from apps.connectors.selectors import registry_pulls_count
from apps.connectors.services import source_connector_configure, source_sync_queue
from apps.evidence.models import Artifact, Evidence, LineageEdge
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse, source_create

HOST = "registry.test:5000"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
EVENTS = "application/vnd.docker.distribution.events.v1+json"
IMAGE_A, IMAGE_B, IMAGE_W = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32, "sha256:" + "c3" * 32
LAYERS = ["sha256:" + f"{n:02x}" * 32 for n in range(0x10, 0x14)]
CONFIGS = ["sha256:" + f"{n:02x}" * 32 for n in range(0x20, 0x23)]


def event(action: str, repo: str, digest: str, media_type: str, *, tag: str = "", url: bool = True, agent="skopeo"):
    kind = "manifests" if media_type == OCI_MANIFEST else "blobs"
    target = {"mediaType": media_type, "size": 1234, "digest": digest, "length": 1234, "repository": repo}
    if url:
        target["url"] = f"http://{HOST}/v2/{repo}/{kind}/{digest}"
    if tag:
        target["tag"] = tag
    method = {"push": "PUT", "pull": "GET", "delete": "DELETE", "mount": "POST"}[action]
    return {
        "events": [
            {
                "id": str(uuid.uuid4()),
                "timestamp": "2026-12-01T10:00:00.000000000Z",
                "action": action,
                "target": target,
                "request": {"id": str(uuid.uuid4()), "addr": "10.0.0.7:51234", "host": HOST, "method": method,
                            "useragent": agent},
                "actor": {"name": "ci"},
                "source": {"addr": "registry-0:5000", "instanceID": "0f5e6c1c-2a8e-4b6b-9a4e-b4a0c2f1a001"},
            }
        ]
    }


def burst() -> list[dict]:
    app, worker = "demo/app", "demo/worker"
    pushes = [
        event("push", app, LAYERS[0], LAYER), event("push", app, CONFIGS[0], CONFIG),
        event("push", app, IMAGE_A, OCI_MANIFEST, tag="1.0"),
        event("mount", app, LAYERS[1], LAYER), event("push", app, CONFIGS[1], CONFIG),
        event("push", app, IMAGE_B, OCI_MANIFEST, tag="1.1"),
        event("push", app, IMAGE_B, OCI_MANIFEST, tag="prod"),
        event("mount", worker, LAYERS[2], LAYER), event("push", worker, CONFIGS[2], CONFIG),
        event("push", worker, IMAGE_W, OCI_MANIFEST, tag="1.0"),
        event("push", app, IMAGE_A, OCI_MANIFEST, tag="latest"),
        event("push", app, IMAGE_A, OCI_MANIFEST, tag="1.0-rc"),
    ]  # 12: 6 blob events (pushes and mounts of layers and configs), 6 manifest pushes
    pulls = []
    for _ in range(3):  # three nodes pull prod, then the worker: manifest and blobs, 7 each
        pulls += [
            event("pull", app, IMAGE_B, OCI_MANIFEST, tag="prod", agent="containerd/1.7"),
            event("pull", app, CONFIGS[1], CONFIG, agent="containerd/1.7"),
            event("pull", app, LAYERS[1], LAYER, agent="containerd/1.7"),
            event("pull", worker, IMAGE_W, OCI_MANIFEST, tag="1.0", agent="containerd/1.7"),
            event("pull", worker, CONFIGS[2], CONFIG, agent="containerd/1.7"),
            event("pull", worker, LAYERS[2], LAYER, agent="containerd/1.7"),
            event("pull", app, LAYERS[0], LAYER, agent="containerd/1.7"),
        ]
    deletes = [event("delete", app, IMAGE_B, OCI_MANIFEST, url=False)]  # the prod image, by digest
    assert (len(pushes), len(pulls), len(deletes)) == (12, 21, 1)
    return pushes + pulls + deletes


def tag_moved_to_prod(source) -> None:
    """What a sync saw before the burst: prod moved to image B (a running deployment)."""
    body = json.dumps(
        {"document": "oci.tag-move/v1", "registry": HOST, "repository": "demo/app", "tag": "prod",
         "previous_digest": None, "digest": IMAGE_B, "observed_at": "2026-12-01T09:59:00Z"},
        sort_keys=True,
    ).encode()
    receipt, _ = receipt_accept(source=source, channel="oci", body=body, content_type="application/json",
                                delivery_key="tag-move-prod", event="sync.tag_move")
    receipt_parse(receipt_id=receipt.pk)


@pytest.mark.django_db
def test_a_burst_of_34_notifications_records_manifests_counts_pulls_and_syncs_each_repository_once(
    client, settings, admin_user, django_capture_on_commit_callbacks
):
    settings.PORTAL_OCI_SYNC_DEBOUNCE = 30
    creds = source_create(actor="system:test", kind="oci", name="registry notifications")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=f"http://{HOST}")
    tag_moved_to_prod(creds.source)
    deployment = LineageEdge.objects.get(relation="deployed-as", target__uri__contains="/demo/app/prod/")
    assert deployment.valid_to is None

    url = f"/api/v1/ingest/oci?source={creds.source.pk}"
    auth = {"Authorization": f"Bearer {creds.token}"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for envelope in burst():
            answer = client.post(url, data=json.dumps(envelope).encode(), content_type=EVENTS, headers=auth)
            assert answer.status_code == 202, answer.content
    receipts = Receipt.objects.filter(source=creds.source, event="notification").order_by("id")
    assert receipts.count() == 34  # every body is kept
    for receipt in receipts:
        receipt_parse(receipt_id=receipt.pk)
    assert set(receipts.values_list("state", flat=True)) == {"parsed"}

    # Evidence: the 6 manifest pushes and the delete; no pull, no blob event.
    events = Evidence.objects.filter(source=creds.source, kind="registry-event")
    assert sorted(events.values_list("summary__action", flat=True)) == ["delete"] + ["push"] * 6
    # Artifacts: the three images, none named after a layer or config blob.
    images = set(Artifact.objects.filter(kind="image", uri__startswith=f"oci://{HOST}/").values_list("uri", flat=True))
    assert images == {f"oci://{HOST}/demo/app@{IMAGE_A}", f"oci://{HOST}/demo/app@{IMAGE_B}",
                      f"oci://{HOST}/demo/worker@{IMAGE_W}"}
    assert not Artifact.objects.filter(digest__in=LAYERS + CONFIGS).exists()
    # Pulls are access events: counted, per repository.
    assert registry_pulls_count(source_id=creds.source.pk) == 21
    assert registry_pulls_count(source_id=creds.source.pk, repository="demo/worker") == 9
    # One sync per repository in the window, after the window, of that repository only.
    syncs = [c for c in callbacks if isinstance(c, functools.partial) and c.func is source_sync_queue]
    assert sorted(c.keywords["repositories"][0] for c in syncs) == ["demo/app", "demo/worker"]
    assert {c.keywords["countdown"] for c in syncs} == {30}
    # The delete: image B is marked deleted and its prod deployment ended.
    deleted = Artifact.objects.get(uri=f"oci://{HOST}/demo/app@{IMAGE_B}")
    assert deleted.deleted_at is not None
    assert Artifact.objects.get(uri=f"oci://{HOST}/demo/app@{IMAGE_A}").deleted_at is None
    deployment.refresh_from_db()
    assert deployment.valid_to == deleted.deleted_at
    client.force_login(admin_user)
    assert client.get(f"/api/v1/artifacts/{deleted.pk}").json()["deleted_at"] is not None


@pytest.mark.django_db
def test_a_replayed_notification_is_neither_counted_nor_synced_twice(client, django_capture_on_commit_callbacks):
    creds = source_create(actor="system:test", kind="oci", name="registry replays")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=f"http://{HOST}")
    url = f"/api/v1/ingest/oci?source={creds.source.pk}"
    auth = {"Authorization": f"Bearer {creds.token}"}
    pull = json.dumps(event("pull", "demo/app", IMAGE_A, OCI_MANIFEST, tag="1.0")).encode()
    push = json.dumps(event("push", "demo/app", IMAGE_A, OCI_MANIFEST, tag="1.0")).encode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for body in (pull, pull, push, push):
            assert client.post(url, data=body, content_type=EVENTS, headers=auth).status_code in (200, 202)
    assert registry_pulls_count(source_id=creds.source.pk) == 1
    assert len([c for c in callbacks if isinstance(c, functools.partial) and c.func is source_sync_queue]) == 1
