"""A durable blob's directories: each one's entry is on disk before a blob in it counts as stored, and a
process pays one fsync per first-level directory for the fan-out directories that were there before it,
not one per fan-out directory (issue 25: a fresh web worker paid a third fsync on nearly every accept)."""

from __future__ import annotations

import os

import pytest

from apps.ingest import blobs


@pytest.fixture
def store(tmp_path, settings, monkeypatch):
    """A durable store of its own, a process that has seen none of its directories, and a log of what reached
    the disk: ("fsync", path) and ("mkdir", path), in order."""
    settings.PORTAL_BLOB_FSYNC = True
    monkeypatch.setattr(blobs, "_durable_dirs", set())
    monkeypatch.setattr(blobs, "_scanned_dirs", set(), raising=False)
    events: list[tuple[str, str]] = []
    real_fsync, real_mkdir = os.fsync, os.mkdir

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def mkdir(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        events.append(("mkdir", str(path)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "mkdir", mkdir)
    storage = blobs.BlobFileSystemStorage(location=str(tmp_path))
    return storage, tmp_path, events


def _name(first: str, second: str, n: int) -> str:
    return f"sha256/{first}/{second}/{first}{second}{n:060x}"


def test_fan_out_directories_found_on_disk_cost_one_fsync_of_their_parent_per_process(store):
    storage, root, events = store
    for n in range(16):  # made earlier, by another process or before a restart
        os.makedirs(root / "sha256" / "ab" / f"{n:02x}")
    events.clear()
    for n in range(16):
        storage.store_bytes(_name("ab", f"{n:02x}", n), b"body %d" % n)
    synced = [path for kind, path in events if kind == "fsync"]
    assert synced.count(str(root / "sha256" / "ab")) == 1, synced
    assert synced.count(str(root / "sha256")) == 1, synced
    for n in range(16):  # each blob and the rename into its directory still reach the disk
        directory = root / "sha256" / "ab" / f"{n:02x}"
        assert [path for path in synced if path.startswith(f"{directory}/.tmp-")], "the blob's bytes"
        assert (directory / f"ab{n:02x}{n:060x}").read_bytes() == b"body %d" % n
        assert synced.count(str(directory)) == 1
    assert not [path for kind, path in events if kind == "mkdir"]


def test_a_directory_made_now_is_on_disk_before_the_blob_in_it_counts(store):
    storage, root, events = store
    parent = ("fsync", str(root / "sha256" / "cd"))
    storage.store_bytes(_name("cd", "00", 1), b"first")  # the process has now looked at sha256/cd
    os.makedirs(root / "sha256" / "cd" / "77")  # another process makes a directory after that look
    before_second = len(events)
    storage.store_bytes(_name("cd", "77", 2), b"second")
    assert parent in events[before_second:], "a directory the process did not see was trusted unsynced"
    storage.store_bytes(_name("cd", "01", 3), b"third")  # a directory this process makes
    for made in ("00", "01"):
        at = events.index(("mkdir", str(root / "sha256" / "cd" / made)))
        assert parent in events[at:], f"sha256/cd/{made}'s entry never reached the disk"
    assert len(os.listdir(root / "sha256" / "cd")) == 3
