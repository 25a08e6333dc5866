"""Role x page matrix: who gets which status on every HTML page built so far."""

import pytest

from apps.accounts.roles import Role
from apps.inventory.models import System

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER, Role.AUDITOR]
OK, FORBIDDEN, NOT_FOUND = 200, 403, 404
# page -> expected status per role, in ROLES order
MATRIX = {
    "/": [OK, OK, OK, OK, OK],
    "/systems/": [OK, OK, OK, OK, OK],
    "/systems/demo/": [OK, OK, OK, OK, OK],
    "/systems/new/": [OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "/systems/demo/edit/": [OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "/ledger/": [OK, OK, FORBIDDEN, FORBIDDEN, OK],
    "/evidence/": [OK, OK, OK, OK, OK],
    "/sources/": [OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "/sources/new/": [OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "/receipts/": [OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    "/soon/sources/": [NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND],
    "/soon/approvals/": [NOT_FOUND, OK, OK, NOT_FOUND, NOT_FOUND],
    "/admin/": [OK, 302, 302, 302, 302],
}


@pytest.fixture
def demo_system(db):
    return System.objects.create(name="Demo", slug="demo", risk_tier="low")


@pytest.mark.parametrize("path", MATRIX)
def test_anonymous_visitors_are_sent_to_login(client, path, demo_system):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("path,expected", MATRIX.items())
@pytest.mark.parametrize("role_index", range(len(ROLES)))
def test_each_role_gets_the_expected_status(client, make_user, demo_system, path, expected, role_index):
    client.force_login(make_user(ROLES[role_index]))
    assert client.get(path).status_code == expected[role_index]


def test_placeholder_pages_say_which_issue_builds_them(client, compliance_officer):
    client.force_login(compliance_officer)
    body = client.get("/soon/controls/").content.decode()
    assert "Not built yet" in body and "issue #5" in body
