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
