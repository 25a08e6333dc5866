"""Issue 17, hole 8: a mistyped field compiles. Field paths are checked against the fact model
(engine.FACT_SCHEMA) when a rule is saved: refused where the model is closed, warned where open."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from apps.policy.engine import (
    FACT_MODEL_DOC,
    FACT_SCHEMA,
    RuleSyntaxError,
    compile_rule,
    evaluate,
    schema_field_names,
)
from apps.policy.models import Rule
from apps.policy.rulesets import load_rule_set
from apps.policy.services import rule_save

MISTYPED = "evidence.sast_scan.summry.nope"  # the reproduction: it validated as "✓ The expression compiles"


def test_the_mistyped_evidence_field_is_refused_and_the_right_one_suggested():
    with pytest.raises(RuleSyntaxError) as caught:
        compile_rule(f"{MISTYPED} == 0")
    message = caught.value.message
    assert "'summry'" in message and "did you mean 'summary'" in message
    assert (caught.value.line, caught.value.column) == (1, len("evidence.sast_scan.") + 1)


def test_an_unknown_field_of_a_closed_map_is_refused():
    with pytest.raises(RuleSyntaxError, match="did you mean 'risk_tier'"):
        compile_rule("system.risk == 'high'")
    with pytest.raises(RuleSyntaxError, match="lineage has no field 'builder'"):
        compile_rule("size(lineage.builder) > 0")
    with pytest.raises(RuleSyntaxError, match="has no fields"):
        compile_rule("subject.uri.host == 'x'")


def test_an_unknown_summary_field_compiles_with_a_warning():
    compiled = compile_rule("evidence.sast_scan.summary.high_sev == 0", requires=["sast-scan"])
    assert len(compiled.warnings) == 1
    assert "high_sev" in compiled.warnings[0] and "high_severity" in compiled.warnings[0]


def test_an_unknown_evidence_kind_compiles_with_a_warning():
    compiled = compile_rule("evidence.sast_scna.age_days < 30.0")
    assert any("sast_scna" in w and "sast_scan" in w for w in compiled.warnings)


def test_known_paths_method_calls_and_open_maps_raise_nothing():
    compiled = compile_rule(
        "evidence.sast_scan.summary.by_level.error == 0 && lineage.builders.exists(b, b.startsWith('x'))"
        " && baseline.metrics.auc > 0.5 && evidence.provenance.summary.builder_id.startsWith('https://')"
        " && has(evidence.sbom.summary.components_total) && evidence['test_report'].summary.tests > 0"
    )
    assert compiled.warnings == ()


def test_every_default_rule_reads_only_paths_of_the_fact_model():
    for spec in load_rule_set():
        assert spec.compiled.warnings == (), (spec.key, spec.compiled.warnings)


def test_every_name_of_the_schema_is_documented_in_the_fact_model():
    for name in schema_field_names():
        assert re.search(rf"[`{{ ]{name}[`,:}} ]", FACT_MODEL_DOC), name
    assert set(FACT_SCHEMA) == {"subject", "system", "evidence", "lineage", "approvals", "baseline", "now"}


@pytest.mark.django_db
def test_saving_the_mistyped_rule_is_refused_and_stores_nothing(compliance_officer):
    data = {"title": "No errors", "controls": ["soc2-cc7-1"], "requires": ["sast-scan"],
            "expression": f"{MISTYPED} == 0", "severity": "low", "mode": "warn"}  # fmt: skip
    with pytest.raises(ValidationError, match="summry"):
        rule_save(actor=compliance_officer, key="sast-typo", data=data)
    assert not Rule.objects.filter(key="sast-typo").exists()


@pytest.mark.django_db
def test_the_editor_says_the_mistyped_field_is_unknown_instead_of_compiles(client, compliance_officer):
    client.force_login(compliance_officer)
    text = client.post("/rules/validate", {"expression": f"{MISTYPED} == 0"}).content.decode()
    assert "compiles" not in text and "summry" in text and "validation-error" in text
    warned = client.post("/rules/validate", {"expression": "evidence.sast_scan.summary.high_sev == 0"})
    warned = warned.content.decode()
    assert "compiles" in warned and "validation-warning" in warned and "high_severity" in warned


def test_a_stored_rule_with_a_mistyped_field_is_still_evaluated_and_fails_closed():
    compiled = compile_rule(f"{MISTYPED} == 0", saving=False)  # saved before the check existed
    assert any("summry" in w for w in compiled.warnings)
    outcome = evaluate(compiled, {"evidence": {"sast-scan": {"id": 1, "summary": {"high_severity": 0}}}})
    assert outcome.status == "error" and outcome.passed is False
