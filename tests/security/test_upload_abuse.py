"""Hostile uploads: each is refused with a clear 4xx, or stored harmlessly as generic evidence, and
none crashes a worker (a real Celery worker process parses them, then still answers a ping)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from compliance_portal.celery import app
from tests.conftest import wait_until
from tests.ingest.conftest import upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuite name="&lol9;" tests="1"><testcase name="x"/></testsuite>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<testsuite name="&x;" tests="1"><testcase name="x"/></testsuite>"""


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (200 * 1024 * 1024))  # 200 MB of zeros in ~200 KB
    return out.getvalue()


def _nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES = {
    # name: (body, filename, kind, what must happen to the receipt: "parsed" as generic or "failed" with a reason)
    "zip bomb": (_zip_bomb(), "report.zip", "", "generic"),
    "gzip bomb": (gzip.compress(b"\0" * (100 * 1024 * 1024)), "report.json.gz", "", "generic"),
    "billion laughs as JUnit": (BILLION_LAUGHS, "junit.xml", "junit", "failed"),
    "billion laughs, format detected": (BILLION_LAUGHS, "junit.xml", "", "any"),
    "external entity (XXE)": (XXE, "junit.xml", "junit", "failed"),
    "deeply nested JSON": (_nested_json(200_000), "sbom.json", "", "any"),
    "deeply nested JSON as CycloneDX": (_nested_json(200_000), "sbom.cdx.json", "cyclonedx", "failed"),
    "huge single line": (b"a" * (20 * 1024 * 1024), "log.txt", "", "generic"),
    "path traversal in the file name": (b"plain text", "../../../../etc/passwd", "", "generic"),
    "PNG claiming to be JUnit": (b"\x89PNG\r\n\x1a\n" + b"\0" * 2048, "junit.xml", "junit", "failed"),
    "JSON claiming to be SARIF": (json.dumps({"hello": "world"}).encode(), "scan.sarif", "sarif", "failed"),
    "invalid UTF-8": (b"\xff\xfe\xfa" * 1000, "report.xml", "", "any"),
}


@pytest.fixture
def source(db):
    return source_create(actor="system:test", kind="generic-ci", name="abuse")


def test_hostile_uploads_end_in_a_clear_state_and_the_worker_survives(client, celery_worker, source, settings):
    settings.PORTAL_INGEST_MAX_BYTES = 64 * 1024 * 1024
    accepted = {}
    for name, (body, filename, kind, _) in CASES.items():
        fields = {"kind": kind} if kind else {}
        response = upload(client, source.token, body, name=filename, **fields)
        assert response.status_code == 202, f"{name}: {response.status_code} {response.content[:300]!r}"
        accepted[name] = int(response.json()["receipt"])
    outcomes = {}
    for name, receipt_id in accepted.items():
        receipt = wait_until(
            lambda rid=receipt_id: (r := Receipt.objects.get(pk=rid)).state in ("parsed", "failed") and r, timeout=120
        )
        outcomes[name] = receipt
    for name, receipt in outcomes.items():
        expected = CASES[name][3]
        if expected == "failed":
            assert receipt.state == "failed" and receipt.error and "internal error" not in receipt.error, (
                name,
                receipt.error,
            )
        elif expected == "generic":
            assert receipt.state == "parsed", (name, receipt.error)
            assert Evidence.objects.get(receipt=receipt).format == "generic", name
        else:
            assert receipt.state == "parsed" or "internal error" not in receipt.error, (name, receipt.error)
    assert celery_worker.poll() is None, "the worker process died"
    assert app.control.ping(timeout=2), "the worker stopped answering"


def test_a_traversal_file_name_is_never_used_as_a_path(client, source, django_capture_on_commit_callbacks):
    response = upload(client, source.token, b"plain text", name="../../../../etc/passwd")
    receipt = Receipt.objects.get(pk=response.json()["receipt"])
    from apps.ingest.services import receipt_parse

    # The module's worker may have claimed the parse first; then this call leaves it to the worker.
    receipt_parse(receipt_id=receipt.pk)
    evidence = wait_until(lambda: Evidence.objects.filter(receipt=receipt).first())
    from apps.accounts.roles import Role
    from apps.accounts.services import user_create

    client.force_login(user_create(username="eng", password=None, roles=[Role.ENGINEER]))
    raw = client.get(f"/evidence/{evidence.pk}/raw")
    disposition = raw["Content-Disposition"]
    assert "/" not in disposition.split("filename=")[1] and ".." not in disposition
    assert raw["Content-Type"] == "application/octet-stream" and raw["X-Content-Type-Options"] == "nosniff"


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, source, settings):
    settings.PORTAL_INGEST_MAX_BYTES = 4096
    response = upload(client, source.token, b"x" * 10_000, name="big.txt")
    assert response.status_code == 413 and "at most" in response.json()["error"]
    assert not Receipt.objects.exists()


def test_deeply_nested_json_in_a_webhook_is_a_400(client):
    from tests.ingest.conftest import post_github

    creds = source_create(actor="system:test", kind="github", name="gh-abuse")
    response = post_github(client, creds, "push", _nested_json(100_000))
    assert response.status_code == 400 and "JSON" in response.json()["error"]
