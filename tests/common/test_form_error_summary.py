"""Issue 21, item 4: an invalid form shows one error summary at its top, each problem linked to its field;
the fields keep their own messages, but only the summary is announced (one role="alert")."""

from __future__ import annotations

import re

import pytest

from apps.accounts.roles import Role

pytestmark = pytest.mark.django_db


def _summary(body: str) -> str:
    assert body.count("data-error-summary") == 1, "one summary"
    assert body.count('role="alert"') == 1, "only the summary is announced"
    form = body[body.index("<form") :]
    # the summary comes before the first field of the form
    assert form.index("data-error-summary") < form.index('class="field')
    return re.search(r"data-error-summary>(.*?)</div>", form, re.S).group(1)


def test_an_empty_exception_request_lists_its_problems_at_the_top(client, make_user):
    client.force_login(make_user(Role.ENGINEER))
    response = client.post("/exceptions/new/", {"action": "submit"})
    assert response.status_code == 200
    summary = _summary(response.content.decode())
    for field in ("system", "control", "justification", "likelihood", "expires_on"):
        assert f'href="#id_{field}"' in summary, field


def test_an_invalid_system_form_lists_its_problems_at_the_top(client, compliance_officer):
    client.force_login(compliance_officer)
    response = client.post("/systems/new/", {"name": "", "slug": "Not a slug!"})
    assert response.status_code == 200
    summary = _summary(response.content.decode())
    assert 'href="#id_name"' in summary and 'href="#id_slug"' in summary


def test_an_invalid_source_form_lists_its_problems_at_the_top(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/sources/new/", {"name": "", "kind": "nope"})
    assert response.status_code == 200
    assert 'href="#id_kind"' in _summary(response.content.decode())
