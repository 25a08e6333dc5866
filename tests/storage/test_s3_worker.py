"""End to end on S3: the upload API stores the body in the locked bucket, a real Celery worker
process, configured only through the environment (PORTAL_EVIDENCE_STORAGE=s3 …), reads it back
from the S3 server (moto's, on loopback) and parses it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from apps.evidence.models import Evidence
from apps.ingest.blobs import blob_name
from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from apps.inventory.models import System
from tests.conftest import ROOT, _redis_emptied, _worker_env, running_celery_worker, wait_until
from tests.ingest.conftest import COMMIT, fixture_bytes
from tests.storage.conftest import REGION, evidence_storage_settings, make_bucket


@pytest.fixture(scope="module")
def s3_bucket(s3_endpoint):
    import boto3

    return make_bucket(boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION), object_lock=True)


@pytest.fixture  # function scope: stopped (its current task finished) before the test's database flush
def s3_worker(django_db_setup, django_db_blocker, s3_endpoint, s3_bucket):
    """A real `celery worker` whose evidence storage is the S3 bucket, set up from its environment."""
    import redis
    from django.conf import settings


    _redis_emptied(redis.Redis.from_url(settings.REDIS_URL))  # kombu's bindings stay: see SessionWorker
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    env = _worker_env(db_name)
    env.update(
        PORTAL_EVIDENCE_STORAGE="s3", AWS_STORAGE_BUCKET_NAME=s3_bucket, AWS_S3_ENDPOINT_URL=s3_endpoint,
        AWS_S3_REGION_NAME=REGION, PORTAL_EVIDENCE_S3_LOCK_MODE="COMPLIANCE", PORTAL_EVIDENCE_S3_LOCK_DAYS="7",
    )
    # The same environment passes `manage.py check` (the bucket has object lock) in a fresh process.
    subprocess.run([sys.executable, "manage.py", "check", "--tag", "storage"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    with running_celery_worker(env, name="test-s3", queues="default") as proc:
        yield proc


def test_uploaded_evidence_is_stored_locked_in_s3_and_parsed_by_a_worker(
    transactional_db, client, settings, s3_endpoint, s3_bucket, s3_worker
):
    import boto3

    settings.STORAGES = {**settings.STORAGES, "evidence": evidence_storage_settings(s3_endpoint, s3_bucket, days=7)}
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    ci = source_create(actor="system:test", kind="generic-ci", name="ci", system=system)
    body = fixture_bytes("ruff_check.sarif")

    response = client.post(
        "/api/v1/evidence",
        {"file": SimpleUploadedFile("scan.sarif", body), "subject": COMMIT},
        headers={"Authorization": f"Bearer {ci.token}", "Idempotency-Key": "s3-e2e"},
    )
    assert response.status_code == 202, response.content
    receipt_id = int(response.json()["receipt"])

    receipt = wait_until(
        lambda: Receipt.objects.filter(pk=receipt_id, state__in=["parsed", "failed"]).first(), timeout=60
    )
    assert receipt.state == Receipt.State.PARSED, receipt.error
    # The body rode the accept's statement; the worker's parse put it in the bucket, locked.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    head = s3.head_object(Bucket=s3_bucket, Key=f"blobs/{blob_name(response.json()['sha256'])}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ContentLength"] == len(body)
    assert Evidence.objects.filter(receipt=receipt, kind="sast-scan").exists()
