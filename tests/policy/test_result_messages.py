"""Issue 18, "Decide with the whole picture": every result carries a plain-language failure message
with the facts filled in; the CEL expression and the engine's reason sit behind "details"."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from apps.policy.engine import RuleSyntaxError, check_message, prepare_facts, render_message
from apps.policy.models import ControlResult
from apps.policy.rulesets import evaluate_rule, load_rule_set
from apps.policy.services import policy_evaluate

COMMIT = {"kind": "commit", "uri": "git+https://github.com/acme/payments@0a1b2c"}
SAST = {"subject": COMMIT, "evidence": {"sast-scan": {"id": 7, "summary": {"by_level": {"error": 8}}}}}


def test_the_error_level_rule_says_how_many_findings_and_how_many_are_allowed():
    rule = next(r for r in load_rule_set() if r.key == "sast-no-error-level-findings")
    outcome = evaluate_rule(rule, SAST)
    assert outcome.status == "fail"
    assert outcome.message == "8 error-level findings in the latest static analysis scan; at most 0 allowed"


def test_every_default_rule_has_a_failure_message_whose_paths_are_in_the_fact_model():
    for rule in load_rule_set():
        assert rule.message, rule.key
        assert rule.message_warnings == (), (rule.key, rule.message_warnings)


def test_a_message_reads_only_facts_never_attributes_or_code():
    facts = prepare_facts({"system": {"slug": "payments"}, "lineage": {"builders": ["a", "b"]}})
    assert render_message("{system.__class__} {system.slug.upper} {lineage.builders|count}", facts) == (
        "unknown unknown 2"
    )
    for template in ("{0.__globals__}", "{system.slug!r}", "{__import__('os')}", "{system.slug:>10}"):
        with pytest.raises(RuleSyntaxError):
            check_message(template)
    with pytest.raises(RuleSyntaxError, match="did you mean 'risk_tier'"):
        check_message("The system is {system.risk}")


def test_passing_missing_and_error_outcomes_get_plain_messages():
    rule = next(r for r in load_rule_set() if r.key == "sast-no-error-level-findings")
    clean = {"subject": COMMIT, "evidence": {"sast-scan": {"id": 1, "summary": {"by_level": {"error": 0}}}}}
    assert evaluate_rule(rule, clean).message == ""
    missing = evaluate_rule(rule, {"subject": COMMIT})
    assert missing.message == "No sast-scan evidence has been recorded, so this could not be judged"
    broken = evaluate_rule(rule, {"subject": COMMIT, "evidence": {"sast-scan": {"id": 1, "summary": {}}}})
    assert broken.status == "error" and broken.message.startswith("The rule could not be evaluated")


@pytest.mark.django_db
def test_a_failing_result_stores_its_message_with_the_facts_filled_in(clinical):
    policy_evaluate()
    result = ControlResult.objects.get(
        rule__key="infra-encryption-at-rest-managed-key", control__control_id="hipaa-164-312-a-2-iv"
    )
    assert result.status == "fail"
    assert result.message.startswith("2 resources are not encrypted at rest (")
    assert "aws_s3_bucket.raw_exports" in result.message and "none allowed" in result.message
    assert result.changes.get().message == result.message  # kept in the history too


@pytest.mark.django_db
def test_the_gate_api_answers_a_message_for_each_failing_rule(client, marketing):
    policy_evaluate()
    subject = quote("release:https://github.com/acme/marketing-site@2.4.0", safe="")
    body = client.get(f"/api/v1/gates/{subject}", headers={"Authorization": f"Bearer {marketing['ci'].token}"}).json()
    first = body["failing"][0]
    assert first["message"] == "No sbom evidence has been recorded, so this could not be judged"
    assert all(item["message"] for item in body["failing"] + body["warnings"])


@pytest.mark.django_db
def test_the_control_page_leads_with_the_message_and_keeps_the_expression_behind_details(
    client, engineer, clinical
):
    policy_evaluate()
    client.force_login(engineer)
    body = client.get("/controls/hipaa-164-312-a-2-iv/").content.decode()
    assert "2 resources are not encrypted at rest (aws_db_instance.reporting, aws_s3_bucket.raw_exports)" in body
    assert "<details" in body and "size(evidence.infrastructure.summary.unencrypted) == 0" in body
