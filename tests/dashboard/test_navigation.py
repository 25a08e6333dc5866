"""The navigation leads only to built pages: the placeholder scaffolding is gone."""

import pytest
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from apps.dashboard import navigation


def test_no_placeholder_page_route_is_left():
    with pytest.raises(Resolver404):
        resolve("/soon/packs/")
    with pytest.raises(NoReverseMatch):
        reverse("dashboard:placeholder", kwargs={"page": "packs"})
    assert not hasattr(navigation, "PLACEHOLDERS")


def test_every_navigation_entry_resolves_to_a_page_of_its_own_app():
    for entry in navigation.NAVIGATION:
        assert resolve(entry.url()).view_name == entry.url_name
