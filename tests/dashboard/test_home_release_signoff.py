"""A risk owner's home and menu count release sign-offs waiting for them, not only exceptions."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.releases.selectors import release_inbox_for_user
from apps.releases.services import release_classify
from tests.releases.conftest import _fast_password_hashing, world  # noqa: F401  (fixtures)


def test_a_release_waiting_for_a_risk_owner_is_on_their_home_and_in_the_menu_count(client, world):  # noqa: F811
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    client.force_login(world.owner1)
    page = client.get("/").content.decode()
    section = re.search(r'data-home="risk_owner".*?</section>', page, re.S).group(0)
    assert signoff.reference in section and "release sign-off" in section
    unrelated = client.get(reverse("evidence:list")).content.decode()
    badge = re.search(r'data-nav="approvals"[^>]*>Approvals <span class="badge"[^>]*>(\d+)</span>', unrelated)
    assert badge and int(badge.group(1)) == len(release_inbox_for_user(user=world.owner1)) == 1

    client.force_login(world.outsider)  # a risk owner of another system: nothing of this release
    page = client.get("/").content.decode()
    assert signoff.reference not in page and 'class="badge"' not in page
