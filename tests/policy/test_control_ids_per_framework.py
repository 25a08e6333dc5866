"""Control ids are unique per framework: a second catalog may reuse another framework's ids (issue 24)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.policy.models import Control, ControlResult, Framework
from apps.policy.selectors import control_get, control_list_for_user
from apps.policy.services import catalog_import, current_rules, policy_evaluate, rule_save

pytestmark = pytest.mark.django_db


def _baseline(title: str, uuid: str) -> dict:
    """A tiny NIST SP 800-53 style baseline: the same control ids in every baseline."""
    return {
        "catalog": {
            "uuid": uuid,
            "metadata": {"title": title, "last-modified": "2024-05-01T10:00:00Z", "version": "5.1.1",
                         "oscal-version": "1.1.2"},
            "groups": [{"id": "ac", "title": "Access Control", "controls": [
                {"id": "ac-1", "title": "Policy and Procedures",
                 "parts": [{"id": "ac-1_smt", "name": "statement", "prose": "Develop an access control policy."}]},
                {"id": "ac-2", "title": "Account Management",
                 "parts": [{"id": "ac-2_smt", "name": "statement", "prose": "Manage system accounts."}]},
            ]}],
        }
    }  # fmt: skip


LOW = _baseline("NIST SP 800-53 Rev 5 LOW baseline", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")
MODERATE = _baseline("NIST SP 800-53 Rev 5 MODERATE baseline", "1b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")


def test_a_second_nist_baseline_reusing_control_ids_is_imported(compliance_officer):
    low = catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    moderate = catalog_import(actor=compliance_officer, data=MODERATE, code="nist-moderate")
    assert set(low.controls.values_list("control_id", flat=True)) == {"ac-1", "ac-2"}
    assert set(moderate.controls.values_list("control_id", flat=True)) == {"ac-1", "ac-2"}
    assert Control.objects.filter(control_id="ac-1").count() == 2


def test_the_database_refuses_a_control_id_twice_in_one_framework(compliance_officer):
    framework = catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    with pytest.raises(IntegrityError), transaction.atomic():
        Control.objects.create(framework=framework, control_id="ac-1", label="AC-1", title="again", order=99)


def test_a_qualified_reference_names_one_framework_and_a_bare_one_names_every_framework_with_the_id(
    compliance_officer,
):
    catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    catalog_import(actor=compliance_officer, data=MODERATE, code="nist-moderate")
    assert control_get("nist-moderate:ac-1").framework.code == "nist-moderate"
    assert control_get("soc2-cc8-1").framework.code == "soc2"  # shipped ids stay as they were
    from django.http import Http404

    with pytest.raises(Http404):
        control_get("ac-1")  # ambiguous: the page needs the framework
    data = {"title": "Access policy exists", "controls": ["nist-moderate:ac-1", "ac-2"], "expression": "true"}
    version = rule_save(actor=compliance_officer, key="access-policy", data=data)
    (rule,) = current_rules(rule_ids=[version.rule_id])
    mapped = Control.objects.filter(pk__in=rule.control_ids)
    assert {(c.framework.code, c.control_id) for c in mapped} == {
        ("nist-moderate", "ac-1"), ("nist-low", "ac-2"), ("nist-moderate", "ac-2")
    }  # fmt: skip


def test_a_reference_to_an_unknown_framework_is_refused(compliance_officer):
    from django.core.exceptions import ValidationError

    catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    with pytest.raises(ValidationError, match="nist-high:ac-1"):
        rule_save(actor=compliance_officer, key="x-rule",
                  data={"title": "x", "controls": ["nist-high:ac-1"], "expression": "true"})  # fmt: skip


def test_results_and_control_pages_keep_frameworks_apart(marketing, compliance_officer, client):
    catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    catalog_import(actor=compliance_officer, data=MODERATE, code="nist-moderate")
    data = {
        "title": "Tests pass",
        "controls": ["nist-low:ac-2"],
        "requires": ["test-report"],
        "expression": "evidence.test_report.summary.failed == 0",
        "selector": {"artifact_kinds": ["commit"]},
    }
    rule_save(actor=compliance_officer, key="nist-tests", data=data)
    policy_evaluate()
    results = ControlResult.objects.filter(rule__key="nist-tests").select_related("control__framework")
    assert results and {r.control.framework.code for r in results} == {"nist-low"}
    rows = {
        (r["control"].framework.code, r["control"].control_id): r
        for r in control_list_for_user(user=compliance_officer)[0]
    }
    assert rows[("nist-low", "ac-2")]["rules"] == ["nist-tests"]
    assert rows[("nist-moderate", "ac-2")]["rules"] == []
    client.force_login(compliance_officer)
    moderate_ac2 = Control.objects.get(framework__code="nist-moderate", control_id="ac-2")
    page = client.get(moderate_ac2.get_absolute_url())
    assert page.status_code == 200 and "nist-tests" not in page.content.decode()
    low_ac2 = Control.objects.get(framework=Framework.objects.get(code="nist-low"), control_id="ac-2")
    assert "nist-tests" in client.get(low_ac2.get_absolute_url()).content.decode()


def test_a_bare_id_that_several_imported_frameworks_share_links_to_a_choice_of_them(client, compliance_officer):
    catalog_import(actor=compliance_officer, data=LOW, code="nist-low")
    catalog_import(actor=compliance_officer, data=MODERATE, code="nist-moderate")
    client.force_login(compliance_officer)
    page = client.get("/controls/ac-1/")
    assert page.status_code == 300
    html = page.content.decode()
    assert "/controls/nist-low:ac-1/" in html and "/controls/nist-moderate:ac-1/" in html
    assert client.get("/controls/nist-low:ac-1/").status_code == 200
    assert client.get("/controls/zz-9/").status_code == 404
