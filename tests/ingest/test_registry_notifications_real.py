"""Issue 20, hole 6, with the notifications a real registry sends: Debian's docker-registry
(Distribution 2.8) configured to notify the live portal, driven by skopeo (push, re-tag, pulls,
delete). What it sends is whatever it sends: the test reads the received bodies to know."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from apps.connectors.selectors import registry_pulls_count
from apps.evidence.models import Artifact, Evidence
from apps.ingest.blobs import blob_read
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse, source_create
from tests.ingest.servers import registry_server, require_tool
from tests.ingest.test_connectors_oci import REPO, Registry, build_and_push, copy_tag

pytestmark = pytest.mark.django_db(transaction=True)


def _skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=120)


def _received(source) -> list[dict]:
    events = []
    for receipt in Receipt.objects.filter(source=source, event="notification").order_by("id"):
        events += json.loads(blob_read(receipt.sha256))["events"]
    return events


def test_a_real_registrys_notifications_record_manifests_count_pulls_and_mark_the_delete(live_server, tmp_path):
    require_tool("umoci", "umoci")
    require_tool("skopeo", "skopeo")
    creds = source_create(actor="system:test", kind="oci", name="registry that notifies")
    url = f"{live_server.url}/api/v1/ingest/oci?source={creds.source.pk}"
    (tmp_path / "registry").mkdir()
    with registry_server(tmp_path / "registry", notify_url=url, notify_token=creds.token) as host:
        build_and_push(tmp_path, host, "1.0", marker="real")
        copy_tag(host, "1.0", "prod")
        image = Registry(host).descriptor("1.0")["digest"]
        for n in range(3):  # three nodes pull prod
            _skopeo("copy", "--insecure-policy", "--src-tls-verify=false", f"docker://{host}/{REPO}:prod",
                    f"oci:{tmp_path / f'pulled-{n}'}:prod")  # fmt: skip
        _skopeo("delete", "--tls-verify=false", f"docker://{host}/{REPO}@{image}")
        deadline = time.monotonic() + 90  # the registry delivers from its own queue: wait for the delete
        while not any(e.get("action") == "delete" for e in _received(creds.source)):
            assert time.monotonic() < deadline, (tmp_path / "registry" / "registry.log").read_text()[-2000:]
            time.sleep(0.5)
    # Parse what arrived, and what still arrives: a registry whose delivery timed out on a busy machine
    # (the live server's "Broken pipe") sends it again, after the delete's. The worker may have parsed
    # some already: the claim decides.
    deadline = time.monotonic() + 60
    while Receipt.objects.filter(source=creds.source, state__in=["queued", "parsing"]).exists():
        assert time.monotonic() < deadline
        for receipt in Receipt.objects.filter(source=creds.source, state="queued"):
            receipt_parse(receipt_id=receipt.pk)
        time.sleep(0.2)
    assert set(Receipt.objects.filter(source=creds.source).values_list("state", flat=True)) == {"parsed"}

    events = _received(creds.source)
    pulls = [e for e in events if e["action"] == "pull"]
    blobs = {e["target"]["digest"] for e in events if "/blobs/" in e["target"].get("url", "")}
    assert pulls and blobs  # the registry did report pulls and blob events
    # Pulls are counted, not evidence; blobs make neither evidence nor artifacts.
    assert registry_pulls_count(source_id=creds.source.pk) == len(pulls)
    recorded = Evidence.objects.filter(source=creds.source)
    assert set(recorded.values_list("summary__action", flat=True)) == {"push", "delete"}
    assert not recorded.filter(summary__digest__in=blobs).exists()
    assert not Artifact.objects.filter(digest__in=blobs).exists()
    assert set(Artifact.objects.filter(kind="image").values_list("uri", flat=True)) == {
        f"oci://{host}/{REPO}@{image}"
    }
    # The delete marks the image deleted.
    assert Artifact.objects.get(uri=f"oci://{host}/{REPO}@{image}").deleted_at is not None
