"""Issue 18: wherever results are shown, a person reads the rule's plain message first; the engine's
reason and the CEL expression sit behind "details" (the inbox and the decision page)."""

import re
from html import escape

import pytest

from apps.exceptions.selectors import covered_results

pytestmark = pytest.mark.django_db


def _outside_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def _inside_details(html: str) -> str:
    return " ".join(re.findall(r"<details.*?</details>", html, flags=re.S))


@pytest.mark.parametrize("url", ["/exceptions/inbox/", "/exceptions/{pk}/"])
def test_results_show_the_plain_message_and_keep_the_expression_behind_details(client, make_request, owners, url):
    req = make_request("high")
    result = covered_results(req).first()
    assert result.message and result.rule_version.expression
    client.force_login(owners["risk_owner"])

    page = client.get(url.format(pk=req.pk)).content.decode()

    assert escape(result.message, quote=False) in _outside_details(page)
    expression = escape(result.rule_version.expression.strip(), quote=False)
    assert expression in _inside_details(page)
    assert expression not in _outside_details(page)
