"""Issue 21: from a control to the evidence that decided its results, and the evidence list by control."""

from __future__ import annotations

import re

import pytest

from apps.evidence.models import Evidence
from apps.policy.models import ControlResult
from apps.policy.services import policy_evaluate

pytestmark = pytest.mark.django_db

CONTROL = "hipaa-164-312-a-2-iv"


@pytest.fixture
def evaluated(marketing, clinical):
    policy_evaluate()
    return clinical


def _listed_ids(body: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'href="/evidence/(\d+)/"', body)}


def test_the_evidence_list_filtered_by_control_shows_only_the_evidence_its_results_used(
    client, compliance_officer, evaluated
):
    used = {e for ids in ControlResult.objects.filter(control__control_id=CONTROL).values_list(
        "evidence_ids", flat=True) for e in ids}
    assert used and Evidence.objects.exclude(pk__in=used).exists()
    client.force_login(compliance_officer)
    body = client.get("/evidence/", {"control": CONTROL}).content.decode()
    assert _listed_ids(body) == used
    assert CONTROL in body  # the filter is shown, so it can be cleared


def test_an_unknown_control_filters_the_evidence_list_to_nothing(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    body = client.get("/evidence/", {"control": "no-such-control"}).content.decode()
    assert _listed_ids(body) == set()


def test_the_evidence_api_filters_by_control_too(client, compliance_officer, evaluated):
    used = {e for ids in ControlResult.objects.filter(control__control_id=CONTROL).values_list(
        "evidence_ids", flat=True) for e in ids}
    client.force_login(compliance_officer)
    rows = client.get("/api/v1/evidence", {"control": CONTROL}).json()["results"]
    assert {int(r["id"]) for r in rows} == used


def test_each_result_row_on_the_control_page_links_to_the_evidence_that_decided_it(
    client, compliance_officer, evaluated
):
    result = ControlResult.objects.filter(control__control_id=CONTROL).exclude(evidence_ids=[]).first()
    client.force_login(compliance_officer)
    body = client.get(f"/controls/{CONTROL}/").content.decode()
    results_table = body.split('id="results-title"', 1)[1].split('id="evidence-title"', 1)[0]
    for pk in result.evidence_ids:
        assert f'href="/evidence/{pk}/"' in results_table
    assert f'href="/evidence/?control={CONTROL}"' in body  # and to the whole list of them
