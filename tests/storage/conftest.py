"""A real S3-compatible server on loopback for the evidence storage tests: moto's server mode.

MinIO is not installable here (PyPI, npm and Debian only); moto (`moto[s3]`, PyPI) runs a real
HTTP S3 endpoint in a thread (ThreadedMotoServer) that implements buckets with object lock,
versioning, retention modes and refuses deletes of locked versions. The portal talks to it
through boto3 and django-storages exactly as it would to AWS S3 or MinIO.
"""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

REGION = "eu-central-1"
# Credentials only from the environment, as in production (moto accepts any).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "portal-test-key", "AWS_SECRET_ACCESS_KEY": "portal-test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    """The URL of a moto S3 server on 127.0.0.1 (a free port), for the module."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)


def make_bucket(client, *, object_lock: bool) -> str:
    name = f"portal-evidence-{uuid.uuid4().hex[:12]}"
    client.create_bucket(
        Bucket=name, ObjectLockEnabledForBucket=object_lock,
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    return name


def evidence_storage_settings(endpoint: str, bucket: str, *, mode: str = "COMPLIANCE", days: int | None = 30) -> dict:
    """The "evidence" entry settings.py makes for PORTAL_EVIDENCE_STORAGE=s3."""
    return {
        "BACKEND": "apps.ingest.storage_s3.EvidenceS3Storage",
        "OPTIONS": {
            "object_lock_mode": mode,
            "object_lock_days": days,
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": REGION,
            "location": "blobs",
            "default_acl": None,
            "querystring_auth": True,
        },
    }


@pytest.fixture
def locked_bucket(s3_client):
    return make_bucket(s3_client, object_lock=True)


@pytest.fixture
def s3_evidence(settings, s3_endpoint, locked_bucket):
    """The portal's "evidence" storage switched to the S3 server, bucket with object lock (30 days)."""
    settings.STORAGES = {**settings.STORAGES, "evidence": evidence_storage_settings(s3_endpoint, locked_bucket)}
    return locked_bucket
