"""Issue 21, item 4: list pages sort on the server by `?sort=<col>` / `?sort=-<col>` from a whitelist per
list; anything else is ignored. Header links carry `aria-sort` and keep the page's filters."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict

from apps.common.sorting import sort_read
from apps.exceptions.models import ExceptionRequest
from apps.inventory.models import System
from apps.inventory.services import system_save
from apps.ledger.services import ledger_integrate_all
from tests.exceptions.conftest import control, make_request, owners, system  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

SYSTEM_ROW = re.compile(r'<th scope="row"><a href="/systems/([\w-]+)/"')
LEDGER_ROW = re.compile(r'<th scope="row"><a href="/ledger/(\d+)/"')
EXCEPTION_ROW = re.compile(r'<th scope="row"><a href="/exceptions/(\d+)/"')


def test_a_sort_outside_the_whitelist_falls_back_to_the_default_order():
    columns = {"name": ("name",), "created": ("created_at",)}
    assert sort_read(QueryDict("sort=password"), columns, default="-created").order_by() == ["-created_at", "-pk"]
    assert sort_read(QueryDict("sort=-name"), columns, default="-created").order_by() == ["-name", "-pk"]
    assert sort_read(QueryDict("sort=name;drop"), columns, default="name").value == "name"


def test_header_links_reverse_the_sorted_column_keep_filters_and_drop_the_page():
    sort = sort_read(QueryDict("sort=name&kind=service&page=3"), {"name": ("name",), "tier": ("tier",)}, default="name")
    assert sort.columns["name"].aria == "ascending"
    assert QueryDict(sort.columns["name"].query) == QueryDict("kind=service&sort=-name")
    assert sort.columns["tier"].aria == "" and "page" not in sort.columns["tier"].query


@pytest.fixture
def three_systems(db):
    for name, tier in (("Bravo", "critical"), ("Alpha", "low"), ("Charlie", "high")):
        System.objects.create(name=name, slug=name.lower(), risk_tier=tier)


def test_the_systems_list_sorts_by_a_column_and_ignores_an_unknown_one(client, compliance_officer, three_systems):
    client.force_login(compliance_officer)
    assert SYSTEM_ROW.findall(client.get("/systems/").content.decode()) == ["alpha", "bravo", "charlie"]
    body = client.get("/systems/?sort=-name").content.decode()
    assert SYSTEM_ROW.findall(body) == ["charlie", "bravo", "alpha"]
    assert 'aria-sort="descending"' in body and 'href="?sort=name"' in body
    # Risk tiers sort by severity, not by their spelling.
    assert SYSTEM_ROW.findall(client.get("/systems/?sort=-tier").content.decode()) == ["bravo", "charlie", "alpha"]
    assert SYSTEM_ROW.findall(client.get("/systems/?sort=password").content.decode()) == ["alpha", "bravo", "charlie"]


def test_the_ledger_list_sorts_oldest_first_on_request(client, compliance_officer):
    for slug in ("one", "two", "three"):
        system_save(actor=compliance_officer, system=System(name=slug, slug=slug))
    ledger_integrate_all()  # what the sequencer does: pending entries join the log
    client.force_login(compliance_officer)
    newest_first = [int(i) for i in LEDGER_ROW.findall(client.get("/ledger/").content.decode())]
    oldest_first = [int(i) for i in LEDGER_ROW.findall(client.get("/ledger/?sort=index").content.decode())]
    assert len(newest_first) >= 3 and newest_first == sorted(newest_first, reverse=True)
    assert oldest_first == sorted(newest_first)
    assert LEDGER_ROW.findall(client.get("/ledger/?sort=payload").content.decode()) == [str(i) for i in newest_first]


def test_the_exception_register_sorts_by_created_both_ways(client, owners, make_request):  # noqa: F811
    first = make_request("low")
    # Set-up only: closed, so that a second request may cover the same control and system.
    ExceptionRequest.objects.filter(pk=first.pk).update(status=ExceptionRequest.Status.REJECTED)
    second = make_request("high")
    client.force_login(owners["compliance"])
    newest = EXCEPTION_ROW.findall(client.get("/exceptions/?sort=-created").content.decode())
    oldest = EXCEPTION_ROW.findall(client.get("/exceptions/?sort=created").content.decode())
    assert newest == [str(second.pk), str(first.pk)]
    assert oldest == [str(first.pk), str(second.pk)]
    by_tier = EXCEPTION_ROW.findall(client.get("/exceptions/?sort=-tier").content.decode())
    assert by_tier == [str(second.pk), str(first.pk)]


def test_every_sortable_list_answers_a_sort_it_does_not_know_with_its_default_page(client, compliance_officer):
    client.force_login(compliance_officer)
    for url in ("/systems/", "/exceptions/", "/ledger/", "/releases/"):
        response = client.get(f"{url}?sort=-password")
        assert response.status_code == 200, url
        assert 'aria-sort="' in response.content.decode(), url
