"""Raw evidence in S3 with object lock, against a real S3 server on loopback (moto's server mode).

See tests/storage/conftest.py: the S3 implementation here is moto's ThreadedMotoServer, not AWS
or MinIO. Everything goes over HTTP through boto3 and django-storages, as in production.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from apps.evidence.models import Evidence
from apps.ingest.blobs import blob_name, blob_read, blob_store
from apps.ingest.models import PendingBody, Receipt
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.ingest.storage_s3 import EvidenceS3Storage, retention_shortest_days
from apps.inventory.models import System
from tests.ingest.conftest import COMMIT, fixture_bytes
from tests.storage.conftest import evidence_storage_settings, make_bucket


def _key(sha256: str) -> str:
    return f"blobs/{blob_name(sha256)}"


def test_a_stored_blob_lands_under_compliance_lock_until_the_lock_period(s3_evidence, s3_client):
    data = b'{"evidence": "locked"}'
    before = timezone.now()
    digest = blob_store(data)

    assert digest == hashlib.sha256(data).hexdigest()
    head = s3_client.head_object(Bucket=s3_evidence, Key=_key(digest))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert before + timedelta(days=30) - timedelta(minutes=1) <= until <= timezone.now() + timedelta(days=30)
    assert blob_read(digest) == data


def test_the_server_refuses_to_delete_the_locked_version(s3_evidence, s3_client):
    digest = blob_store(b"cannot be deleted")
    version = s3_client.head_object(Bucket=s3_evidence, Key=_key(digest))["VersionId"]

    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=s3_evidence, Key=_key(digest), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    body = s3_client.get_object(Bucket=s3_evidence, Key=_key(digest), VersionId=version)["Body"].read()
    assert body == b"cannot be deleted"


def test_retention_disposal_hides_the_blob_but_the_locked_version_stays(s3_evidence, s3_client):
    digest = blob_store(b"past retention")
    version = s3_client.head_object(Bucket=s3_evidence, Key=_key(digest))["VersionId"]

    storages["evidence"].delete(blob_name(digest))  # what apps.retention's blob_purge does

    assert not storages["evidence"].exists(blob_name(digest))
    versions = s3_client.list_object_versions(Bucket=s3_evidence, Prefix=_key(digest))
    assert [v["VersionId"] for v in versions["Versions"]] == [version]
    assert len(versions["DeleteMarkers"]) == 1


def test_storing_the_same_bytes_again_writes_no_new_version(s3_evidence, s3_client):
    data = b"content-addressed"
    digest = blob_store(data)
    assert blob_store(data) == digest

    versions = s3_client.list_object_versions(Bucket=s3_evidence, Prefix=_key(digest))
    assert len(versions["Versions"]) == 1


def test_governance_mode_and_lock_days_are_configurable(settings, s3_endpoint, s3_client, locked_bucket):
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": evidence_storage_settings(s3_endpoint, locked_bucket, mode="GOVERNANCE", days=400),
    }
    digest = blob_store(b"governance")
    head = s3_client.head_object(Bucket=locked_bucket, Key=_key(digest))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > timezone.now() + timedelta(days=399)


def test_lock_days_default_to_the_shortest_retention_period(settings, s3_endpoint, s3_client, locked_bucket):
    storage = evidence_storage_settings(s3_endpoint, locked_bucket, days=None)
    settings.STORAGES = {**settings.STORAGES, "evidence": storage}
    assert retention_shortest_days() == 30  # the shipped policy's debug-logs schedule
    digest = blob_store(b"default lock period")
    until = s3_client.head_object(Bucket=locked_bucket, Key=_key(digest))["ObjectLockRetainUntilDate"]
    assert timezone.now() + timedelta(days=29) < until < timezone.now() + timedelta(days=31)


def test_a_bucket_without_object_lock_is_refused_at_check_and_at_first_write(settings, s3_endpoint, s3_client):
    plain = make_bucket(s3_client, object_lock=False)
    settings.STORAGES = {**settings.STORAGES, "evidence": evidence_storage_settings(s3_endpoint, plain)}

    with pytest.raises(SystemCheckError, match="ingest.E010"):
        call_command("check", tags=["storage"])
    with pytest.raises(ImproperlyConfigured, match="does not have object lock enabled"):
        blob_store(b"would be deletable")
    assert s3_client.list_objects_v2(Bucket=plain).get("KeyCount", 0) == 0


def test_check_passes_for_a_locked_bucket(s3_evidence):
    call_command("check", tags=["storage"])  # raises SystemCheckError otherwise
    assert isinstance(storages["evidence"], EvidenceS3Storage)


def test_a_missing_bucket_is_reported_by_the_check(settings, s3_endpoint):
    settings.STORAGES = {**settings.STORAGES, "evidence": evidence_storage_settings(s3_endpoint, "no-such-bucket-here")}
    with pytest.raises(SystemCheckError, match="no-such-bucket-here"):
        call_command("check", tags=["storage"])


def test_an_unknown_lock_mode_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="PORTAL_EVIDENCE_S3_LOCK_MODE"):
        EvidenceS3Storage(object_lock_mode="FOREVER", bucket_name="b")


def test_receipt_accept_and_parse_work_end_to_end_on_s3(db, s3_evidence, s3_client):
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    ci = source_create(actor="system:test", kind="generic-ci", name="ci", system=system)
    body = fixture_bytes("junit_pytest.xml")

    receipt, created = receipt_accept(
        source=ci.source, channel="upload", body=body, subject=COMMIT, filename="junit.xml", enqueue=False,
        delivery_key="run-1-junit",
    )
    assert created
    # A small body is committed with its receipt; its parse moves it into the bucket, locked.
    assert PendingBody.objects.filter(sha256=receipt.sha256).exists()

    parsed = receipt_parse(receipt_id=receipt.pk)
    assert parsed.state == Receipt.State.PARSED
    head = s3_client.head_object(Bucket=s3_evidence, Key=_key(receipt.sha256))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ContentLength"] == len(body)
    assert not PendingBody.objects.filter(sha256=receipt.sha256).exists()
    evidence = Evidence.objects.get(receipt=receipt)
    assert evidence.kind == "test-report"

    again, created_again = receipt_accept(  # a retry with the same Idempotency-Key
        source=ci.source, channel="upload", body=body, subject=COMMIT, filename="junit.xml", enqueue=False,
        delivery_key="run-1-junit",
    )
    assert not created_again and again.pk == receipt.pk
    other, _ = receipt_accept(  # the same bytes from another run: a new receipt, the same blob
        source=ci.source, channel="upload", body=body, subject=COMMIT, filename="junit.xml", enqueue=False,
        delivery_key="run-2-junit",
    )
    assert other.pk != receipt.pk and other.sha256 == receipt.sha256
    assert receipt_parse(receipt_id=other.pk).state == Receipt.State.PARSED
    assert len(s3_client.list_object_versions(Bucket=s3_evidence, Prefix=_key(receipt.sha256))["Versions"]) == 1
