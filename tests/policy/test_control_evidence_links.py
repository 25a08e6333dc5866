"""Issue 21: from a control to the evidence that decided its results, and the evidence list by control."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone

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
    assert f'href="/evidence/?control=hipaa%3A{CONTROL}"' in body  # and to the whole list of them (Control.ref)


def _used(**lookup) -> set[int]:
    return {e for ids in ControlResult.objects.filter(**lookup).values_list("evidence_ids", flat=True) for e in ids}


def test_the_evidence_list_filters_by_a_framework_qualified_control_ref(client, compliance_officer, evaluated):
    """`?control=hipaa:<id>` (Control.ref, what rules and pages use to name one framework's control) found nothing."""
    used = _used(control__control_id=CONTROL)
    assert used
    client.force_login(compliance_officer)
    body = client.get("/evidence/", {"control": f"hipaa:{CONTROL}"}).content.decode()
    assert _listed_ids(body) == used
    rows = client.get("/api/v1/evidence", {"control": f"hipaa:{CONTROL}"}).json()["results"]
    assert {int(r["id"]) for r in rows} == used
    assert _listed_ids(client.get("/evidence/", {"control": f"gdpr:{CONTROL}"}).content.decode()) == set()


def test_the_evidence_list_filters_by_a_controls_database_id(client, compliance_officer, evaluated):
    from apps.policy.models import Control

    control = Control.objects.get(framework__code="hipaa", control_id=CONTROL)
    client.force_login(compliance_officer)
    body = client.get("/evidence/", {"control": str(control.pk)}).content.decode()
    assert _listed_ids(body) == _used(control=control)


def test_a_control_shared_by_an_imported_framework_links_to_its_own_evidence_only(
    client, compliance_officer, evaluated
):
    """The control page's "Open all of it" named the bare id: the list then mixed every framework's results."""
    from apps.policy.models import Control, ControlResult, Framework

    shipped = Control.objects.get(framework__code="hipaa", control_id=CONTROL)
    other_framework = Framework.objects.create(
        code="imported", title="Imported catalog", version="1", oscal_version="1.1.2", catalog_uuid=uuid.uuid4(),
        last_modified="2026-01-01T00:00:00Z", origin=Framework.Origin.IMPORTED, loaded_at=timezone.now())
    other = Control.objects.create(framework=other_framework, control_id=CONTROL, label="x", title="x", order=1)
    template = ControlResult.objects.filter(control=shipped).exclude(evidence_ids=[]).first()
    foreign = Evidence.objects.exclude(pk__in=_used(control=shipped)).first()
    ControlResult.objects.create(control=other, rule=template.rule, rule_version=template.rule_version,
                                 system=template.system, artifact=template.artifact, status=template.status,
                                 reason="imported", evidence_ids=[foreign.pk], evaluated_at=template.evaluated_at)
    client.force_login(compliance_officer)
    page = client.get(f"/controls/hipaa:{CONTROL}/").content.decode()
    link = re.search(r'<a href="(/evidence/\?control=[^"]*)">Open all of it', page).group(1)
    listed = _listed_ids(client.get(link).content.decode())
    assert listed == _used(control=shipped)
    assert foreign.pk not in listed


def test_the_evidence_list_by_control_shows_an_auditor_only_their_systems_evidence(
    client, make_user, compliance_officer, marketing, clinical
):
    from tests.engagements.conftest import engaged_auditor

    policy_evaluate()
    control = "soc2-cc6-8"
    used = _used(control__control_id=control)
    theirs = set(Evidence.objects.filter(pk__in=used, system=clinical["system"]).values_list("pk", flat=True))
    assert theirs and used - theirs  # the control's results used evidence of both systems
    auditor = engaged_auditor(make_user, [clinical["system"]], officer=compliance_officer)
    client.force_login(auditor)
    body = client.get("/evidence/", {"control": control}).content.decode()
    assert _listed_ids(body) == theirs
    assert "marketing-site" not in body.lower() and "ci marketing-site" not in body


@pytest.mark.parametrize("ref", ["9" * 40, "²", "hipaa:", ":x"])
def test_a_control_ref_that_names_no_control_filters_the_evidence_list_to_nothing(
    client, compliance_officer, evaluated, ref
):
    client.force_login(compliance_officer)
    response = client.get("/evidence/", {"control": ref})
    assert response.status_code == 200
    assert _listed_ids(response.content.decode()) == set()
