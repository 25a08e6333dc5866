"""Issue 20, hole 3: the release sign-off page names the links missing from the release's chain
(commit -> build -> image -> release -> deployment), one line each, as the lineage API does."""

from __future__ import annotations

import pytest

from apps.releases.services import release_classify

pytestmark = pytest.mark.django_db


def test_the_signoff_page_of_a_release_names_each_missing_link_of_its_chain(client, world):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    client.force_login(world.officer)

    page = client.get(signoff.get_absolute_url())

    assert page.status_code == 200
    html = page.content.decode()
    assert "data-release-chain" in html
    for line in (
        "missing: commit -&gt; build (no provenance or pipeline run named the commit)",
        "missing: image -&gt; release (no payload named the image digest)",
        "missing: release -&gt; deployment (no deployment payload named the release tag or its image)",
    ):
        assert line in html
