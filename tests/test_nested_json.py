"""Issue 23: deeply nested JSON (~30 KB) answers 400 with the contract's error body, never 500, on every
JSON endpoint."""

import pytest

from apps.accounts.roles import Role

pytestmark = pytest.mark.django_db

DEEP_ARRAY = b"[" * 15_000 + b"]" * 15_000  # 30 KB, 15,000 levels: past Python's recursion limit
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000  # 30 KB of objects
SHALLOW_BUT_DEEP = b'{"a":' * 600 + b"1" + b"}" * 600  # parses, but deeper than any document we take

ENDPOINTS = [
    ("/api/v1/frameworks/import", Role.COMPLIANCE_OFFICER),
    ("/api/v1/packs", Role.COMPLIANCE_OFFICER),
    ("/api/v1/exceptions/request", Role.ENGINEER),
    ("/api/v1/releases/signoffs/classify", Role.COMPLIANCE_OFFICER),
]


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, SHALLOW_BUT_DEEP], ids=["array", "object", "600-levels"])
@pytest.mark.parametrize(("path", "role"), ENDPOINTS, ids=[p for p, _ in ENDPOINTS])
def test_deeply_nested_json_is_a_400_not_a_500(client, make_user, path, role, body):
    client.force_login(make_user(role))
    client.raise_request_exception = False
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "nested" in response.json()["error"]
