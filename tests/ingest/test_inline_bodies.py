"""Issue 25: a small raw body rides the accept's one statement (committed with its receipt, so
durable before the 202, with no file write and no fsync of its own) and moves into the blob store
when the receipt is parsed, or at the sweep; every reader finds it meanwhile."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.ingest.blobs import blob_exists, blob_name, blob_open, blob_read, blob_settle, blob_size, blob_storage
from apps.ingest.models import PendingBody, Receipt
from apps.ingest.services import receipt_parse, receipt_sweep
from apps.retention.services import blob_purge
from tests.ingest.conftest import fixture_bytes, post_github, upload


def _delivery() -> bytes:
    """A workflow_run delivery no earlier test left in the blob store."""
    marker = os.urandom(8).hex().encode()
    return fixture_bytes("github/workflow_run.completed.json").replace(b"{", b'{"n": "%s", ' % marker, 1)


def _in_file_store(digest: str) -> bool:
    return blob_storage().exists(blob_name(digest))


@pytest.mark.django_db
def test_a_small_delivery_is_stored_with_its_receipt_and_written_to_no_file(client, github, settings, monkeypatch):
    settings.PORTAL_BLOB_FSYNC = True
    syncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd))[1])
    body = _delivery()

    response = post_github(client, github, "workflow_run", body)

    assert response.status_code == 202, response.content
    digest = response.json()["sha256"]
    assert digest == hashlib.sha256(body).hexdigest()
    assert syncs == [], "a small body is made durable by the receipt's commit, not by a file's fsyncs"
    assert not _in_file_store(digest)
    assert bytes(PendingBody.objects.get(sha256=digest).body) == body
    # Every reader of the blob store finds it meanwhile.
    assert blob_exists(digest) and blob_size(digest) == len(body)
    assert blob_read(digest) == body
    with blob_open(digest) as fh:
        assert fh.read() == body


@pytest.mark.django_db(transaction=True)
def test_the_parse_moves_the_body_into_the_blob_store_and_then_drops_the_row(client, github, settings):
    settings.PORTAL_BLOB_FSYNC = True
    body = _delivery()
    response = post_github(client, github, "workflow_run", body)
    assert response.status_code == 202
    digest = response.json()["sha256"]
    assert PendingBody.objects.filter(sha256=digest).exists(), "committed with the receipt"

    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))

    assert receipt.state == Receipt.State.PARSED, receipt.error
    assert _in_file_store(digest)
    with blob_storage().open(blob_name(digest), "rb") as fh:
        assert fh.read() == body
    assert not PendingBody.objects.filter(sha256=digest).exists()
    assert blob_read(digest) == body


@pytest.mark.django_db
def test_the_sweep_moves_bodies_that_no_parse_moved(client, github):
    body = _delivery()
    digest = post_github(client, github, "workflow_run", body).json()["sha256"]
    fresh = _delivery()
    fresh_digest = post_github(client, github, "workflow_run", fresh).json()["sha256"]
    PendingBody.objects.filter(sha256=digest).update(created_at=timezone.now() - timedelta(minutes=5))

    receipt_sweep()

    assert _in_file_store(digest) and blob_read(digest) == body
    assert not PendingBody.objects.filter(sha256=digest).exists()
    # A body accepted moments ago is left to its parse.
    assert PendingBody.objects.filter(sha256=fresh_digest).exists() and not _in_file_store(fresh_digest)


@pytest.mark.django_db
def test_a_body_above_the_inline_limit_is_in_the_blob_store_before_the_202(client, ci, settings):
    settings.PORTAL_INLINE_BODY_MAX_BYTES = 1024
    cases = "<testcase name='t'/>" * 80
    large = f"<testsuite name='{os.urandom(8).hex()}'>{cases}</testsuite>".encode()
    small = f"<testsuite name='{os.urandom(8).hex()}'/>".encode()
    assert len(large) > 1024 > len(small)

    large_digest = upload(client, ci.token, large, key="large").json()["sha256"]
    small_digest = upload(client, ci.token, small, key="small").json()["sha256"]

    assert _in_file_store(large_digest) and not PendingBody.objects.filter(sha256=large_digest).exists()
    assert PendingBody.objects.filter(sha256=small_digest).exists() and not _in_file_store(small_digest)
    # 0 turns the inline path off: every body is written to the blob store first.
    settings.PORTAL_INLINE_BODY_MAX_BYTES = 0
    other = f"<testsuite name='{os.urandom(8).hex()}'/>".encode()
    other_digest = upload(client, ci.token, other, key="other").json()["sha256"]
    assert _in_file_store(other_digest) and not PendingBody.objects.filter(sha256=other_digest).exists()


@pytest.mark.django_db
def test_two_receipts_of_the_same_bytes_share_one_pending_body(client, github):
    body = _delivery()
    first = post_github(client, github, "workflow_run", body, delivery="same-bytes-1")
    second = post_github(client, github, "workflow_run", body, delivery="same-bytes-2")
    assert first.status_code == second.status_code == 202
    assert first.json()["receipt"] != second.json()["receipt"]
    digest = first.json()["sha256"]
    assert PendingBody.objects.filter(sha256=digest).count() == 1

    for response in (first, second):
        receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
        assert receipt.state == Receipt.State.PARSED, receipt.error
    assert _in_file_store(digest) and not PendingBody.objects.filter(sha256=digest).exists()


@pytest.mark.django_db
def test_a_pending_body_that_does_not_hash_to_its_name_is_never_served_or_moved(caplog):
    name = hashlib.sha256(b"what was accepted").hexdigest()
    PendingBody.objects.create(sha256=name, body=b"what someone wrote into the table later", created_at=timezone.now())

    with pytest.raises(FileNotFoundError, match="does not hash to its name"):
        blob_read(name)
    assert blob_settle(older_than=timedelta(0)) == 0
    assert not _in_file_store(name)
    assert PendingBody.objects.filter(sha256=name).exists(), "kept for whoever investigates"
    assert any("does not hash to its name" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_disposal_deletes_a_body_still_pending_when_no_receipt_needs_it(client, github):
    body = _delivery()
    response = post_github(client, github, "workflow_run", body)
    digest = response.json()["sha256"]
    assert not blob_purge(sha256=digest), "its receipt still needs it"
    Receipt.objects.filter(pk=int(response.json()["receipt"])).delete()

    assert blob_purge(sha256=digest)

    assert not PendingBody.objects.filter(sha256=digest).exists() and not blob_exists(digest)


@pytest.mark.django_db
def test_a_failing_blob_store_does_not_stop_the_sweep_requeueing_stuck_receipts(
    client, github, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    import apps.ingest.blobs

    body = _delivery()
    response = post_github(client, github, "workflow_run", body)
    receipt_id = int(response.json()["receipt"])
    long_ago = timezone.now() - timedelta(hours=2)
    PendingBody.objects.filter(sha256=response.json()["sha256"]).update(created_at=long_ago)
    Receipt.objects.filter(pk=receipt_id).update(state_since=long_ago)

    def disk_full(data, *, sha256=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(apps.ingest.blobs, "blob_store", disk_full)
    with django_capture_on_commit_callbacks(execute=False):
        assert receipt_sweep() == 1, "the stuck receipt is queued again all the same"

    assert PendingBody.objects.filter(sha256=response.json()["sha256"]).exists(), "kept for the next sweep"
    assert any("could not be moved" in record.getMessage() for record in caplog.records)
