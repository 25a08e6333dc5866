"""The blob store: raw bodies, content-addressed by sha256, written once.

Blobs go through Django's storage API (the "evidence" alias of STORAGES), so S3 or any
other backend works by configuration. A blob's name is derived from its content, so
writing the same bytes twice is a no-op and a blob is never overwritten with other bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages


def blob_name(sha256: str) -> str:
    """sha256/ab/cd/abcd… (two levels of fan-out keep directories small)."""
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def blob_storage():
    return storages["evidence"]


def blob_store(data: bytes, *, sha256: str | None = None) -> str:
    """Store `data` once under its sha256; returns the hex digest."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    storage = blob_storage()
    name = blob_name(digest)
    if not storage.exists(name):
        storage.save(name, ContentFile(data))
    return digest


def blob_open(sha256: str):
    """A binary file object of the blob (FileNotFoundError when it is missing)."""
    return blob_storage().open(blob_name(sha256), "rb")


def blob_read(sha256: str) -> bytes:
    with blob_open(sha256) as fh:
        return fh.read()


class BlobFileSystemStorage(FileSystemStorage):
    """FileSystemStorage for content-addressed blobs: atomic and durable writes.

    A blob appears under its final name only once it is complete (written to a temporary
    file in the same directory, fsynced, then renamed), so a crash can never leave a torn
    file that a later `exists()` check would take for the real blob. Two writers of the
    same blob race harmlessly: both rename identical bytes into place.
    """

    def get_available_name(self, name, max_length=None):
        return name  # the name is the content's hash: same name, same bytes

    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in content.chunks():
                    fh.write(chunk)
                fh.flush()
                if settings.PORTAL_BLOB_FSYNC:
                    os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o644)
            os.replace(tmp_path, full_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)
            raise
        if settings.PORTAL_BLOB_FSYNC:
            # The rename itself must reach the disk too.
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return name
