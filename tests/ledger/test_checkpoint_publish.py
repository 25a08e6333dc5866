"""Issue 19, gap 3: checkpoints are published outside the host (a directory, an HTTP witness, the S3 object-lock
bucket when evidence lives in S3), and the signing key's name is the log's origin."""

from __future__ import annotations

import http.server
import threading

import pytest
from django.db import transaction

from apps.ledger.services import (
    LedgerError,
    checkpoint_object_name,
    ledger_checkpoint,
    ledger_checkpoint_publish,
    ledger_integrate_all,
    ledger_record,
)
from tests.storage.conftest import locked_bucket, s3_client, s3_endpoint, s3_evidence  # noqa: F401 - fixtures
from tests.test_settings import PROD_ENV, _manage

pytestmark = pytest.mark.django_db


def _checkpoint(count: int = 3):
    with transaction.atomic():
        for n in range(count):
            ledger_record(actor="system:test", action="test.publish", data={"n": n})
    ledger_integrate_all()
    return ledger_checkpoint()


@pytest.fixture
def witness():
    """A real HTTP witness on loopback that keeps every POSTed body."""
    received: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            received.append((self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint", received
    server.shutdown()


def test_a_new_checkpoint_is_published_to_the_directory_and_the_http_witness(
    settings, tmp_path, witness, django_capture_on_commit_callbacks
):
    url, received = witness
    settings.PORTAL_LEDGER_WITNESS_DIR = tmp_path / "witness"
    settings.PORTAL_LEDGER_WITNESS_URL = url
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        checkpoint = _checkpoint()
    assert len(callbacks) == 2  # the witness file, and the publishing task

    assert ledger_checkpoint_publish(checkpoint_id=checkpoint.pk) == ["dir", "http"]
    path = settings.PORTAL_LEDGER_WITNESS_DIR / checkpoint_object_name(checkpoint)
    assert path.read_text(encoding="utf-8") == checkpoint.note
    assert received == [("text/plain; charset=utf-8", checkpoint.note.encode())]
    # twice is harmless
    assert ledger_checkpoint_publish(checkpoint_id=checkpoint.pk) == ["dir", "http"]


def test_nothing_is_enqueued_when_no_place_is_configured(settings, django_capture_on_commit_callbacks):
    settings.PORTAL_LEDGER_WITNESS_DIR = None
    settings.PORTAL_LEDGER_WITNESS_URL = ""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _checkpoint()
    assert len(callbacks) == 1  # the witness file only


def test_another_note_of_the_same_size_in_the_directory_is_a_fork(settings, tmp_path):
    settings.PORTAL_LEDGER_WITNESS_DIR = tmp_path / "witness"
    settings.PORTAL_LEDGER_WITNESS_URL = ""
    checkpoint = _checkpoint()
    path = settings.PORTAL_LEDGER_WITNESS_DIR / checkpoint_object_name(checkpoint)
    path.parent.mkdir(parents=True)
    path.write_text(checkpoint.note.replace("\n", "\nforged\n", 1))
    with pytest.raises(LedgerError, match="the log has forked"):
        ledger_checkpoint_publish(checkpoint_id=checkpoint.pk)


def test_with_s3_evidence_storage_checkpoints_go_to_the_bucket_under_object_lock(
    settings, s3_evidence, s3_client  # noqa: F811 - pytest fixtures
):
    settings.PORTAL_LEDGER_WITNESS_DIR = None
    settings.PORTAL_LEDGER_WITNESS_URL = ""
    checkpoint = _checkpoint()
    assert ledger_checkpoint_publish(checkpoint_id=checkpoint.pk) == ["s3"]
    key = f"blobs/{checkpoint_object_name(checkpoint)}"
    stored = s3_client.get_object(Bucket=s3_evidence, Key=key)
    assert stored["Body"].read() == checkpoint.note.encode()
    assert s3_client.head_object(Bucket=s3_evidence, Key=key)["ObjectLockMode"] == "COMPLIANCE"


def test_the_checkpoint_key_is_named_after_the_origin_or_start_up_stops():
    result = _manage("check", env={**PROD_ENV, "PORTAL_LEDGER_ORIGIN": "portal.example.org/ledger"})
    assert result.returncode != 0
    assert "the key name must be the log's origin" in result.stderr
    assert _manage("check", env=PROD_ENV).returncode == 0  # by default the origin is the key's name
