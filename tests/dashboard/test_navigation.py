"""The navigation leads only to built pages: the placeholder scaffolding is gone."""

import pytest
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from apps.dashboard import navigation
from tests.engagements.conftest import world  # noqa: F401  (a fixture)


def test_no_placeholder_page_route_is_left():
    with pytest.raises(Resolver404):
        resolve("/soon/packs/")
    with pytest.raises(NoReverseMatch):
        reverse("dashboard:placeholder", kwargs={"page": "packs"})
    assert not hasattr(navigation, "PLACEHOLDERS")


def test_every_navigation_entry_resolves_to_a_page_of_its_own_app():
    for entry in navigation.NAVIGATION:
        assert resolve(entry.url()).view_name == entry.url_name


@pytest.mark.django_db
def test_an_auditor_whose_engagements_ended_is_not_offered_the_ledger_that_refuses_them(client, world):  # noqa: F811
    client.force_login(world.auditor_ended)
    assert client.get("/ledger/").status_code == 403
    assert 'data-nav="ledger"' not in client.get("/").content.decode()

    client.force_login(world.auditor_in)  # an open engagement: the ledger opens, and the menu offers it
    assert client.get("/ledger/").status_code == 200
    assert 'data-nav="ledger"' in client.get("/").content.decode()
