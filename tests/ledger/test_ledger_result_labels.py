"""Issue 21: the ledger list names a control result the way people cite it (framework, control, system,
status), not by its row ids, and naming them costs no query per row."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ledger.services import ledger_integrate_all
from apps.policy.models import ControlResult
from apps.policy.services import policy_evaluate
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluated(world):  # noqa: F811
    policy_evaluate()  # records a control_result.changed entry per new result
    ledger_integrate_all()
    assert ControlResult.objects.count() >= 3
    return world


def _results(client, query: str) -> str:
    return client.get(f"/ledger/?{query}", HTTP_HX_REQUEST="true").content.decode()


def test_a_control_result_is_labelled_by_framework_control_system_and_status(client, evaluated):
    result = ControlResult.objects.select_related("control__framework", "system").order_by("pk").first()
    expected = (f"{result.control.framework.code} {result.control.label or result.control.control_id} "
                f"on {result.system.slug}: {result.status}")
    client.force_login(evaluated.officer)
    body = _results(client, f"object_type=policy.controlresult&object_id={result.pk}")
    assert expected in body
    assert not re.search(r"\d+/\d+ on (\d+|system):", body)  # no raw row ids


def test_labelling_a_page_of_results_costs_no_query_per_row(client, evaluated):
    client.force_login(evaluated.officer)
    one = ControlResult.objects.order_by("pk").first()
    with CaptureQueriesContext(connection) as single:
        _results(client, f"object_type=policy.controlresult&object_id={one.pk}")
    with CaptureQueriesContext(connection) as many:
        body = _results(client, "object_type=policy.controlresult")
    assert body.count("<tr>") >= 4  # several result rows (and the header)
    assert len(many.captured_queries) == len(single.captured_queries)
