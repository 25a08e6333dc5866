"""Raw evidence in S3-compatible object storage, written once under object lock (WORM).

Selected with PORTAL_EVIDENCE_STORAGE=s3 (settings: the "evidence" alias of STORAGES). Blobs
keep their content-addressed names (apps.ingest.blobs.blob_name), so storing the same bytes
again is a no-op: blob_store() checks exists() first, and this storage never renames.

Every object is written with an object lock: ObjectLockMode (COMPLIANCE by default: nobody, the
bucket's owner included, can delete or overwrite that version before the date; GOVERNANCE lets
holders of s3:BypassGovernanceRetention do it) and ObjectLockRetainUntilDate = now + the lock
period. The lock period is PORTAL_EVIDENCE_S3_LOCK_DAYS, or by default the shortest period of
the retention policy in force, so the lock never outlives what retention would keep (retention
disposal then deletes the current version: on a versioned, locked bucket that adds a delete
marker and the locked version stays until its date, when a lifecycle rule can expire it; see
docs/deploy/README.md).

A bucket without object lock enabled is refused: `manage.py check` (and so `migrate`) reports
it (ingest.E010/E011), and the first write of each process checks it and raises rather than
store evidence that could be deleted. Credentials come the usual boto3 way, from the
environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or an instance/pod role; never from
settings.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.utils import timezone
from storages.backends.s3 import S3Storage

from apps.ingest.hooks import lock_days_default

LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")


def retention_shortest_days() -> int:
    """The shortest period the retention policy keeps anything: the default lock period.

    apps.retention provides it (apps.ingest.hooks); intake does not read the retention policy itself."""
    days = lock_days_default()
    if days is None:
        raise ImproperlyConfigured("no retention policy is installed: set PORTAL_EVIDENCE_S3_LOCK_DAYS")
    return days


class EvidenceS3Storage(S3Storage):
    """S3Storage for content-addressed blobs: never renamed, every version under object lock."""

    def __init__(self, *, object_lock_mode: str = "COMPLIANCE", object_lock_days: int | None = None, **options):
        if object_lock_mode not in LOCK_MODES:
            raise ImproperlyConfigured(
                f"PORTAL_EVIDENCE_S3_LOCK_MODE={object_lock_mode!r}: use one of {', '.join(LOCK_MODES)}"
            )
        if object_lock_days is not None and object_lock_days < 1:
            raise ImproperlyConfigured("PORTAL_EVIDENCE_S3_LOCK_DAYS must be at least 1 day")
        self.object_lock_mode = object_lock_mode
        self.object_lock_days = object_lock_days
        self._lock_verified = False
        self._lock_verify_mutex = threading.Lock()
        options.setdefault("file_overwrite", True)
        options.setdefault("default_acl", None)
        super().__init__(**options)

    def lock_days(self) -> int:
        return self.object_lock_days or retention_shortest_days()

    def get_available_name(self, name, max_length=None):
        return name  # the name is the content's hash: same name, same bytes

    def _get_write_parameters(self, name, content=None):
        params = super()._get_write_parameters(name, content)
        params["ObjectLockMode"] = self.object_lock_mode
        params["ObjectLockRetainUntilDate"] = timezone.now() + timedelta(days=self.lock_days())
        return params

    def _save(self, name, content):
        self.ensure_object_lock()
        return super()._save(name, content)

    def object_lock_problem(self) -> str | None:
        """Why this bucket cannot hold evidence (missing, unreachable, no object lock), or None."""
        client = self.connection.meta.client
        try:
            config = client.get_object_lock_configuration(Bucket=self.bucket_name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ObjectLockConfigurationNotFoundError":
                return f"bucket {self.bucket_name!r} does not have object lock enabled"
            return f"bucket {self.bucket_name!r}: {code or exc}"
        except BotoCoreError as exc:
            return f"bucket {self.bucket_name!r} is unreachable: {exc}"
        if config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            return f"bucket {self.bucket_name!r} does not have object lock enabled"
        return None

    def ensure_object_lock(self) -> None:
        """Once per process: refuse to write evidence into a bucket that cannot lock it."""
        if self._lock_verified:
            return
        with self._lock_verify_mutex:
            if not self._lock_verified:
                problem = self.object_lock_problem()
                if problem:
                    raise ImproperlyConfigured(f"evidence storage: {problem} (see docs/deploy/README.md)")
                self._lock_verified = True


@checks.register("storage")
def evidence_object_lock_check(app_configs=None, **kwargs):
    """`manage.py check`: the configured evidence bucket exists and has object lock enabled."""

    try:
        storage = storages["evidence"]
    except Exception as exc:  # noqa: BLE001 - any configuration error is the finding
        return [checks.Error(f"evidence storage cannot be set up: {exc}", id="ingest.E011")]
    if not isinstance(storage, EvidenceS3Storage):
        return []
    problem = storage.object_lock_problem()
    if problem:
        return [
            checks.Error(
                f"evidence storage: {problem}",
                hint="Create the bucket with object lock enabled (it cannot be turned on for every S3 "
                "implementation later); see docs/deploy/README.md.",
                id="ingest.E010",
            )
        ]
    return []
