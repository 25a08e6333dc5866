"""Issue 21, item 7: the pack page's polled panel carries every fact that changes, so none stays stale."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.packs.models import Pack
from apps.packs.services import pack_request
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def test_the_pack_page_refreshes_to_built_and_its_attempts_after_the_build(client, world):  # noqa: F811
    pack = pack_request(user=world.officer, kind="system", params={
        "system": world.system_in.slug, "start": "2000-01-01", "end": timezone.now().date().isoformat()})
    client.force_login(world.officer)
    page = client.get(f"/packs/{pack.pk}/").content.decode()
    assert 'data-status="queued"' in page and "<dt>Attempts</dt><dd>0</dd>" in page
    assert 'hx-trigger="every 2s"' in page

    # the build happens (a worker claims it once and finishes): what the next poll brings back
    Pack.objects.filter(pk=pack.pk).update(
        status=Pack.Status.BUILT, attempts=1, progress=100, built_at=timezone.now(), size=1234, pages=3,
        evidence_count=1, sha256="ab" * 32, file=f"{pack.pk}.zip")
    fragment = client.get(f"/packs/{pack.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="built"' in fragment and "Queued" not in fragment
    assert "<dt>Attempts</dt><dd>1</dd>" in fragment  # the facts are part of what is swapped in
    assert 'hx-trigger="every 2s"' not in fragment  # and polling stops on the final state


@pytest.mark.parametrize("final", [Pack.Status.FAILED, Pack.Status.CANCELLED, Pack.Status.BUILT])
def test_the_pack_page_says_when_the_build_started_and_finished_on_load_and_on_the_last_poll(client, world, final):  # noqa: F811
    pack = pack_request(user=world.officer, kind="system", params={
        "system": world.system_in.slug, "start": "2000-01-01", "end": timezone.now().date().isoformat()})
    started = timezone.now().replace(year=2026, month=3, day=4, hour=10, minute=0, second=0, microsecond=0)
    finished = started.replace(minute=7, second=30)
    built = {"built_at": finished, "size": 1234, "pages": 3, "evidence_count": 1, "sha256": "ab" * 32,
             "file": f"{pack.pk}.zip"} if final == Pack.Status.BUILT else {}
    Pack.objects.filter(pk=pack.pk).update(
        status=final, status_since=finished, started_at=started, attempts=2, progress=40,
        error="the PDF renderer ran out of memory" if final == Pack.Status.FAILED else "", **built)
    client.force_login(world.officer)
    for page in (client.get(f"/packs/{pack.pk}/"), client.get(f"/packs/{pack.pk}/", headers={"HX-Request": "true"})):
        body = page.content.decode()
        assert f'data-status="{final}"' in body and "<dt>Attempts</dt><dd>2</dd>" in body
        assert "<dt>Started</dt><dd>2026-03-04 10:00:00 UTC</dd>" in body
        assert f"<dt>{final.label}</dt><dd>2026-03-04 10:07:30 UTC</dd>" in body


def test_the_pack_api_says_when_a_failed_build_started_and_finished(client, world):  # noqa: F811
    pack = pack_request(user=world.officer, kind="system", params={
        "system": world.system_in.slug, "start": "2000-01-01", "end": timezone.now().date().isoformat()})
    client.force_login(world.officer)
    assert client.get(f"/api/v1/packs/{pack.pk}").json()["finished_at"] is None  # queued: not finished
    started = timezone.now().replace(year=2026, month=3, day=4, hour=10, minute=0, second=0, microsecond=0)
    Pack.objects.filter(pk=pack.pk).update(status=Pack.Status.FAILED, status_since=started.replace(minute=7),
                                           started_at=started, attempts=1, error="out of memory")
    body = client.get(f"/api/v1/packs/{pack.pk}").json()
    assert (body["status"], body["attempts"]) == ("failed", 1)
    assert body["started_at"].startswith("2026-03-04T10:00:00")
    assert body["finished_at"].startswith("2026-03-04T10:07:00")


def test_the_request_message_on_the_pack_page_states_no_status_that_the_polled_block_outlives(client, world):  # noqa: F811
    """The flash message said "PK-1 is queued" above the block the page polls: once built, the page said both."""
    client.force_login(world.officer)
    response = client.post("/packs/", {"kind": "system", "system": world.system_in.slug, "start": "2000-01-01",
                                       "end": timezone.now().date().isoformat()}, follow=True)
    body = response.content.decode()
    pack = Pack.objects.get()
    assert response.redirect_chain[-1][0] == f"/packs/{pack.pk}/"
    outside = body.split('<div id="pack-state"', 1)[0]  # what the page keeps while the block is swapped
    assert pack.reference in outside and "queued" not in outside.lower()
