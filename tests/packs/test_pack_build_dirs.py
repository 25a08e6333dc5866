"""Build directories never outlive their build: a stale one (a killed worker's, or one a late chunk helper
wrote into while the next attempt removed it) is removed by beat's sweep once no live build owns it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.packs.models import Pack
from apps.packs.services import build_dir_of, pack_sweep

pytestmark = pytest.mark.django_db


def _pack(officer, **fields) -> Pack:
    return Pack.objects.create(requester=officer, scope_kind="system", scope={"system": "credit"}, scope_label="Credit",
                               status_since=timezone.now(), requested_at=timezone.now(),
                               **fields)


def _half_built(pack_id: int, token: str):
    path = build_dir_of(pack_id, token)
    path.mkdir(parents=True)
    (path / "chunk-0003.pdf").write_bytes(b"%PDF-1.7 half")
    return path


def test_the_sweep_removes_build_directories_no_live_build_owns(officer):
    failed = _pack(officer, status=Pack.Status.FAILED, build_token="b" * 32, error="WeasyPrint ran out of memory")
    building = _pack(officer, status=Pack.Status.BUILDING, build_token="c" * 32,
                     lease_until=timezone.now() + timedelta(seconds=60))
    leftovers = [_half_built(failed.pk, "a" * 32), _half_built(failed.pk, "b" * 32),  # even its last build's
                 _half_built(building.pk, "d" * 32),  # an earlier attempt of a pack now building again
                 _half_built(987654, "e" * 32)]  # a pack deleted since
    live = _half_built(building.pk, "c" * 32)

    pack_sweep()

    assert [p for p in leftovers if p.exists()] == []
    assert live.exists() and (live / "chunk-0003.pdf").exists()  # the running build keeps its files
