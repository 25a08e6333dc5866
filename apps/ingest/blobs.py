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
