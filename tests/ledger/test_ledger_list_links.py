"""Issue 21, item 4: the ledger list links each entry to the object it names when the viewer may open
that object (decided on the server, per viewer), and filters by object from a menu of types plus an id."""

from __future__ import annotations

import re

import pytest

from apps.ledger.services import ledger_integrate_all, ledger_record
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def results(client, url: str) -> str:
    """The list's results partial alone (what htmx asks for): no filter menus to match by mistake."""
    return client.get(url, HTTP_HX_REQUEST="true").content.decode()


@pytest.fixture
def entries(world):  # noqa: F811
    """One entry about a system in the auditor's engagement, one about a system outside it, one about a user."""
    ledger_record(actor=world.officer, action="test.system_in", target=world.system_in)
    ledger_record(actor=world.officer, action="test.system_out", target=world.system_out)
    ledger_record(actor=world.officer, action="test.user", target=world.auditor_out)
    ledger_integrate_all()
    return world


def test_an_officer_sees_links_to_both_systems_and_none_to_another_users_record(client, entries):
    client.force_login(entries.officer)
    body = results(client, "/ledger/?action=test.")
    assert f'href="{entries.system_in.get_absolute_url()}"' in body
    assert f'href="{entries.system_out.get_absolute_url()}"' in body
    user_row = re.search(r"<tr>(?:(?!</tr>).)*test\.user(?:(?!</tr>).)*</tr>", body, re.S).group(0)
    assert "<a " not in user_row.split("<code>test.user</code>")[1]  # named, not linked
    assert "policy.controlresult" not in body and "inventory.system #" not in body  # labels, not model names


def test_an_auditor_sees_a_link_only_for_the_system_of_their_engagement(client, entries):
    client.force_login(entries.auditor_in)
    body = results(client, "/ledger/?action=test.")
    assert f'href="{entries.system_in.get_absolute_url()}"' in body
    assert entries.system_out.get_absolute_url() not in body and "test.system_out" not in body


def test_the_ledger_filters_by_an_object_chosen_from_a_menu(client, entries):
    client.force_login(entries.officer)
    page = client.get("/ledger/").content.decode()
    assert '<select name="object_type"' in page and '<option value="inventory.system"' in page
    body = results(client, f"/ledger/?object_type=inventory.system&object_id={entries.system_in.pk}")
    assert "test.system_in" in body and "test.system_out" not in body and "test.user" not in body


def test_an_unknown_object_type_is_refused_with_a_json_error(client, entries):
    client.force_login(entries.officer)
    response = client.get("/ledger/?object_type=auth.permission")
    assert response.status_code == 400
    assert "object_type" in response.json()["error"]


def test_a_receipt_is_linked_only_for_those_who_may_open_receipt_pages(client, world, admin_user):  # noqa: F811
    receipt = world.evidence_in.receipt
    ledger_record(actor=world.officer, action="test.receipt", target=receipt)
    ledger_integrate_all()
    client.force_login(world.officer)  # reads the ledger, but receipt pages are for admins
    assert receipt.get_absolute_url() not in results(client, "/ledger/?action=test.receipt")
    client.force_login(admin_user)
    assert f'href="{receipt.get_absolute_url()}"' in results(client, "/ledger/?action=test.receipt")
