"""Requirement-to-requirement mappings between the shipped frameworks (issue 24, item 3): one rule result
satisfies every requirement mapped to the one it names, and the control page says where a status comes from."""

from __future__ import annotations

import json

import pytest

from apps.policy.mappings import (
    MAPPING_DIR,
    MappingError,
    MapSpec,
    load_mapping_collection,
    result_flows,
    shipped_mappings,
)
from apps.policy.models import Control, ControlResult, ResultStatus
from apps.policy.oscal import shipped_catalogs
from apps.policy.services import control_assessment_modes, policy_evaluate, rule_save

MAPPING_FILES = sorted(MAPPING_DIR.glob("*.json"))


def _save(actor, expression: str, controls=("soc2-cc7-2",)):
    # judged on each system in scope of SOC 2 or HIPAA (the clinical records service is in both)
    data = {"title": "Audit logs are monitored", "controls": list(controls), "expression": expression,
            "selector": {"frameworks": ["soc2", "hipaa"]}}  # fmt: skip
    return rule_save(actor=actor, key="audit-logs-monitored", data=data)


def _status(control_id: str) -> set[str]:
    return set(
        ControlResult.objects.filter(rule__key="audit-logs-monitored", control__control_id=control_id).values_list(
            "status", flat=True
        )
    )


@pytest.mark.django_db
def test_a_mapped_requirement_changes_status_with_its_source(clinical, compliance_officer):
    # SOC 2 CC7.2 (monitoring for anomalies) covers HIPAA 164.312(b) (audit controls): "subset-of"
    rule = _save(compliance_officer, "true").rule
    policy_evaluate(rule_ids=[rule.pk])
    assert _status("soc2-cc7-2") == {ResultStatus.PASS}
    assert _status("hipaa-164-312-b") == {ResultStatus.PASS}
    _save(compliance_officer, "false")
    policy_evaluate(rule_ids=[rule.pk])
    assert _status("soc2-cc7-2") == {ResultStatus.FAIL}
    assert _status("hipaa-164-312-b") == {ResultStatus.FAIL}
    # GDPR Art. 32(1)(b) only intersects with CC7.2: related, never counted from it
    assert _status("gdpr-32-1-b") == set()


@pytest.mark.django_db
def test_a_result_does_not_flow_from_the_narrower_to_the_broader_requirement(clinical, compliance_officer):
    rule = _save(compliance_officer, "true", controls=("hipaa-164-312-b",)).rule
    policy_evaluate(rule_ids=[rule.pk])
    assert _status("hipaa-164-312-b") == {ResultStatus.PASS}
    assert _status("soc2-cc7-2") == set()  # audit controls alone do not prove CC7.2


@pytest.mark.django_db
def test_an_equivalent_requirement_counts_as_automated_once_a_rule_names_its_pair(compliance_officer):
    gdpr_16 = Control.objects.get(control_id="gdpr-16")  # equivalent to SOC 2 P5.2 (correction)
    assert control_assessment_modes()[gdpr_16.pk] == Control.Assessment.NONE
    _save(compliance_officer, "true", controls=("soc2-p5-2",))
    assert control_assessment_modes()[gdpr_16.pk] == Control.Assessment.AUTOMATED


@pytest.mark.django_db
def test_the_control_page_says_where_each_status_comes_from(client, engineer, clinical, compliance_officer):
    rule = _save(compliance_officer, "false").rule
    policy_evaluate(rule_ids=[rule.pk])
    client.force_login(engineer)
    mapped = client.get("/controls/hipaa-164-312-b/").content.decode()
    assert "from SOC 2 CC7.2 via mapping" in mapped and "audit-logs-monitored" in mapped
    assert "Mapped requirements" in mapped and "its rule results count here" in mapped
    direct = client.get("/controls/soc2-cc7-2/").content.decode()
    assert "from rule" in direct and "from SOC 2 CC7.2 via mapping" not in direct
    assert "HIPAA 164.312(b)" in direct and "results here count there" in direct
    assert "related only: neither satisfies the other" in direct  # GDPR Art. 32(1)(b)


def test_relationships_decide_the_direction_results_flow():
    maps = (
        MapSpec("a:x", "equivalent-to", "b:y"),
        MapSpec("a:x", "superset-of", "c:z"),
        MapSpec("a:x", "subset-of", "d:w"),
        MapSpec("a:x", "intersects-with", "e:v"),
    )
    assert result_flows(maps) == {"a:x": ["b:y", "c:z"], "b:y": ["a:x"], "d:w": ["a:x"]}


@pytest.mark.parametrize("path", MAPPING_FILES, ids=lambda p: p.stem)
def test_the_shipped_mappings_validate_against_the_oscal_mapping_schema(path):
    models = pytest.importorskip("oscal_bindings.v1.models")
    models.MappingCollectionDocument.model_validate(json.loads(path.read_text()))


def test_every_mapping_names_controls_of_two_different_shipped_frameworks():
    catalogs = shipped_catalogs()
    maps = shipped_mappings()
    assert len(maps) >= 40
    for spec in maps:
        for ref in (spec.source, spec.target):
            code, _, control_id = ref.partition(":")
            assert catalogs[code].get(control_id), ref
        assert spec.source.partition(":")[0] != spec.target.partition(":")[0]
        assert spec.remarks
    pairs = {(s.source, s.target) for s in maps}
    assert ("hipaa:hipaa-164-312-b", "soc2:soc2-cc7-2") in pairs
    assert ("eu-ai-act:euai-art-9", "sr-11-7:sr117-val-5") in pairs
    assert ("soc2:soc2-cc7-2", "gdpr:gdpr-32-1-b") in pairs


def test_a_mapping_with_an_unknown_relationship_is_refused():
    doc = json.loads(MAPPING_FILES[0].read_text())
    doc["mapping-collection"]["mappings"][0]["maps"][0]["relationship"] = "sort-of"
    with pytest.raises(MappingError, match="'sort-of' is not one of"):
        load_mapping_collection(doc)
