"""The blob store: raw bodies, content-addressed by sha256, written once.

Blobs go through Django's storage API (the "evidence" alias of STORAGES), so S3 or any
other backend works by configuration. A blob's name is derived from its content, so
writing the same bytes twice is a no-op and a blob is never overwritten with other bytes.

A small body may not be in the store yet: the accept committed it with its receipt as a
PendingBody (PORTAL_INLINE_BODY_MAX_BYTES), and `blob_settle` moves it here. Every reader below
falls back to that row, so a blob is readable from the moment its 202 was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from apps.ingest.models import PendingBody

logger = logging.getLogger(__name__)


def blob_name(sha256: str) -> str:
    """sha256/ab/cd/abcd… (two levels of fan-out keep directories small)."""
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def blob_storage():
    return storages["evidence"]


def blob_store(data: bytes, *, sha256: str | None = None) -> str:
    """Store `data` once under its sha256; returns the hex digest. Durable when it returns
    (PORTAL_BLOB_FSYNC): a 202 that names the digest means the bytes are on disk."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    storage = blob_storage()
    name = blob_name(digest)
    if isinstance(storage, BlobFileSystemStorage):
        # Every accept comes here: skip the Storage API's name checks and file wrappers (the name is
        # our own hex digest) and write the bytes directly, with the same atomic, durable write.
        storage.store_bytes(name, data)
    elif not storage.exists(name):
        storage.save(name, ContentFile(data))
    return digest


def blob_open(sha256: str):
    """A binary file object of the blob (FileNotFoundError when it is missing)."""
    return _stored_or_pending(sha256, lambda storage, name: storage.open(name, "rb"), io.BytesIO)


def blob_read(sha256: str, *, settle: bool = False) -> bytes:
    """The blob's bytes. `settle=True` (the parse) also moves a pending body into the store."""
    if settle:
        body = _pending(sha256)
        if body is not None:
            _move([(sha256, body)])
            return body
    with blob_open(sha256) as fh:
        return fh.read()


def blob_size(sha256: str) -> int:
    """The blob's size in bytes (FileNotFoundError when it is missing)."""
    return _stored_or_pending(sha256, lambda storage, name: storage.size(name), len)


def _stored_or_pending(sha256: str, from_store, from_pending):
    """`from_store(storage, name)`; for a body not in the store yet, `from_pending(its bytes)`."""
    storage, name = blob_storage(), blob_name(sha256)
    try:
        return from_store(storage, name)
    except FileNotFoundError:
        body = _pending(sha256)
        if body is None:
            return from_store(storage, name)  # moved into the store meanwhile, or missing: FileNotFoundError
        return from_pending(body)


def blob_exists(sha256: str) -> bool:
    return PendingBody.objects.filter(sha256=sha256).exists() or blob_storage().exists(blob_name(sha256))


def blob_delete(sha256: str) -> bool:
    """Delete the blob, from the store and as a pending body (retention's disposal); True when
    there was something to delete."""
    pending = PendingBody.objects.filter(sha256=sha256).delete()[0] > 0
    storage, name = blob_storage(), blob_name(sha256)
    if not storage.exists(name):
        return pending
    storage.delete(name)
    return True


def blob_settle(*, older_than: timedelta, limit: int = 500) -> int:
    """Move pending bodies committed more than `older_than` ago into the store (the receipt sweep:
    their parse has not run). Returns how many moved."""
    # Unordered: the LIMIT stops the scan early; in order, a backlog (workers down for hours) would
    # be read and sorted whole on every sweep, for want of an index no accept should pay for.
    rows = PendingBody.objects.filter(created_at__lt=timezone.now() - older_than).values_list("sha256", "body")[:limit]
    good = []
    for sha256, body in rows:
        body = bytes(body)
        if _matches(sha256, body):
            good.append((sha256, body))
    _move(good)
    return len(good)


def _move(bodies: list[tuple[str, bytes]]) -> None:
    """Each body into the store (durable when PORTAL_BLOB_FSYNC), then its row deleted: a crash
    in between leaves the row, and the next move writes nothing (same name, same bytes)."""
    for sha256, body in bodies:
        blob_store(body, sha256=sha256)
    if bodies:
        PendingBody.objects.filter(sha256__in=[sha256 for sha256, _ in bodies]).delete()


def _pending(sha256: str) -> bytes | None:
    """A pending body's bytes, or None. Bytes that do not hash to their name are never served."""
    body = PendingBody.objects.filter(sha256=sha256).values_list("body", flat=True).first()
    if body is None:
        return None
    body = bytes(body)
    if not _matches(sha256, body):
        raise FileNotFoundError(f"the pending body sha256:{sha256} does not hash to its name; it is not served")
    return body


def _matches(sha256: str, body: bytes) -> bool:
    if hashlib.sha256(body).hexdigest() == sha256:
        return True
    logger.error("ingest: the pending body sha256:%s does not hash to its name; left in place, not moved", sha256)
    return False


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
        self._write_new(self.path(name), content.chunks(), self.location)
        return name

    def store_bytes(self, name: str, data: bytes) -> None:
        """Write a blob unless it is there already (content-addressed: same name, same bytes)."""
        full_path = os.path.join(self.location, name)
        if not os.path.exists(full_path):
            self._write_new(full_path, (data,), self.location)

    @staticmethod
    def _write_new(full_path: str, chunks, root: str) -> None:
        durable = settings.PORTAL_BLOB_FSYNC
        directory = os.path.dirname(full_path)
        _makedirs(directory, root, durable=durable)
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o644)
            os.replace(tmp_path, full_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)
            raise
        if durable:
            _fsync_dir(directory)  # the rename itself must reach the disk too


def _fsync_dir(directory: str) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# Directories this process knows to be durable: created (or found) and their entry in the parent
# fsynced. At most 65,536 fan-out directories, so the set stays small.
_durable_dirs: set[str] = set()
# Parents whose subdirectories this process has listed and made durable with one fsync (_scan).
_scanned_dirs: set[str] = set()


def _makedirs(directory: str, root: str, *, durable: bool) -> None:
    """os.makedirs, and when durable, make sure each directory's own entry in its parent is on
    disk before a blob in it counts as stored. `root` (the storage's location) and above are the
    operator's.

    The fan-out directories already on disk are made durable together, one fsync of their parent
    per process (`_scan`); a directory made later, by this process or another one (which may not
    have synced its parent yet), costs an fsync of its parent when this process first meets it.
    One fsync per fan-out directory met instead was a third fsync on nearly every accept of a
    fresh web worker: 65,536 directories to meet before it stopped."""
    if not durable:
        os.makedirs(directory, exist_ok=True)
        return
    if directory in _durable_dirs:
        return
    parent = os.path.dirname(directory)
    if len(directory) <= len(root) or parent == directory:
        os.makedirs(directory, exist_ok=True)
        _durable_dirs.add(directory)
        return
    _makedirs(parent, root, durable=True)
    if parent not in _scanned_dirs:
        _scan(parent)
        if directory in _durable_dirs:
            return
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory)
    _fsync_dir(parent)
    _durable_dirs.add(directory)


def _scan(parent: str) -> None:
    """Every directory `parent` holds now is durable once `parent` is fsynced after the listing: the
    fsync writes out every change to `parent` made before it, whoever made it."""
    with os.scandir(parent) as entries:
        found = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    _fsync_dir(parent)
    _durable_dirs.update(found)
    _scanned_dirs.add(parent)
