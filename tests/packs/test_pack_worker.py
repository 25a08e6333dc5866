"""Real heavy workers: a worker killed (SIGKILL) halfway through a build leaves, once a worker runs
again, exactly one complete pack; two workers share one pack's chunks."""

from __future__ import annotations

import pytest

from apps.ledger.models import LedgerEntry, PendingEntry
from apps.packs.models import Pack, PackChunk
from apps.packs.offline.core import verify_pack
from apps.packs.services import pack_request, pack_sweep
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _status(pack_id: int) -> Pack:
    return Pack.objects.get(pk=pack_id)


def test_a_worker_killed_during_a_build_leaves_exactly_one_complete_pack(
    scenario, officer, heavy_workers, settings
):
    settings.PORTAL_PACK_LEASE_SECONDS = 3
    settings.PORTAL_PACK_CHUNK_ROWS = 40  # several chunks: the kill lands mid-render
    env = {"PORTAL_PACK_LEASE_SECONDS": "3", "PORTAL_PACK_CHUNK_ROWS": "40"}
    first = heavy_workers("heavy-a", **env)
    pack = pack_request(user=officer, kind="system", params={"system": scenario["system"].slug, **scenario["period"]})

    wait_until(lambda: _status(pack.pk).stage == Pack.Stage.RENDERING, timeout=60, interval=0.05)
    first.kill()
    killed = _status(pack.pk)
    assert killed.status == Pack.Status.BUILDING and killed.attempts == 1

    heavy_workers("heavy-b", **env)
    # Once the dead worker's lease has lapsed (plus the sweep's grace), beat's sweep queues the build
    # again; before that each sweep leaves it alone. Swept as beat would, only more often.
    wait_until(lambda: pack.pk in pack_sweep()["requeued"], timeout=60, interval=0.2)
    built = wait_until(lambda: (p := _status(pack.pk)).status in (Pack.Status.BUILT, Pack.Status.FAILED) and p,
                       timeout=180, interval=0.2)
    assert built.status == Pack.Status.BUILT, built.error
    assert built.attempts == 2

    root = settings.PORTAL_PACK_ROOT
    assert [p.name for p in (root / "files").iterdir()] == [f"evidence-pack-{pack.pk:06d}.zip"]
    assert not list((root / "build").iterdir()), "no half-built directory is left behind"
    assert set(PackChunk.objects.filter(pack=pack).values_list("build_token", flat=True)) == {built.build_token}
    report = verify_pack(root / built.file)
    assert report.evidence == built.evidence_count
    actions = set(PendingEntry.objects.filter(object_type="packs.pack").values_list("action", flat=True))
    actions |= set(LedgerEntry.objects.filter(object_type="packs.pack").values_list("action", flat=True))
    assert {"pack.requested", "pack.requeued", "pack.build_restarted", "pack.built"} <= actions


def test_two_workers_render_chunks_of_one_pack(scenario, officer, heavy_workers, settings):
    env = {"PORTAL_PACK_CHUNK_ROWS": "40"}
    settings.PORTAL_PACK_CHUNK_ROWS = 40
    heavy_workers("heavy-c", **env)
    heavy_workers("heavy-d", **env)
    pack = pack_request(user=officer, kind="system", params={"system": scenario["system"].slug, **scenario["period"]})
    built = wait_until(lambda: (p := _status(pack.pk)).status == Pack.Status.BUILT and p, timeout=180, interval=0.2)
    renderers = {c.rendered_by.split(":")[1] for c in PackChunk.objects.filter(pack=pack)}
    assert PackChunk.objects.filter(pack=pack).count() > 1
    assert len(renderers) == 2, "both workers rendered chunks"
    assert verify_pack(settings.PORTAL_PACK_ROOT / built.file).files > 0
