"""The CEL rule engine: the issue's example rules, missing vs failing, errors, syntax positions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.policy.engine import (
    FACT_MODEL_DOC,
    MAX_EXPRESSION_LENGTH,
    CompiledRule,
    RuleOutcome,
    RuleSyntaxError,
    compile_rule,
    evaluate,
    prepare_facts,
)
from apps.policy.rulesets import evaluate_rule, load_rule_set

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
RULES = {rule.key: rule for rule in load_rule_set()}


def passing_facts() -> dict:
    """A release of a high-tier ML system for which every example rule passes."""
    return {
        "now": NOW,
        "subject": {"kind": "release", "uri": "git+https://git.example/acme/scorer@v7", "digest": "", "name": "v7"},
        "system": {
            "slug": "scorer",
            "name": "Credit scorer",
            "kind": "ml_model",
            "risk_tier": "high",
            "data_classes": ["pii", "financial"],
            "frameworks": ["soc2", "sr-11-7", "eu-ai-act"],
            "environment": "prod",
        },
        "evidence": {
            "sast-scan": {
                "id": 101,
                "kind": "sast-scan",
                "verdict": "pass",
                "effective_at": "2025-06-20T08:00:00Z",
                "summary": {
                    "results_total": 3,
                    "by_level": {"error": 0, "warning": 2, "note": 1, "none": 0},
                    "high_severity": 0,
                    "rules": [{"id": "python.lang.best-practice.open-never-closed", "results": 3}],
                },
            },
            "test-report": {
                "id": 102,
                "verdict": "pass",
                "effective_at": "2025-06-29T08:00:00Z",
                "summary": {"tests": 412, "passed": 410, "failed": 0, "errored": 0, "skipped": 2},
            },
            "sbom": {
                "id": 103,
                "effective_at": "2025-06-29T09:00:00Z",
                "inherited": True,
                "summary": {"components_total": 187, "licenses": {"MIT": 120}},
            },
            "provenance": {
                "id": 104,
                "effective_at": "2025-06-29T09:05:00Z",
                "summary": {
                    "builder_id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
                    "generator_container_slsa3.yml@refs/tags/v2.0.0",
                    "signed": True,
                    "signature_count": 1,
                    "verified": True,
                    "reason": "verified: signed by trusted key release signer",
                },
            },
            "fairness": {
                "id": 105,
                "effective_at": "2025-06-28T00:00:00Z",
                "summary": {
                    "metrics": {"auc": 0.861, "accuracy": 0.91},
                    "fairness": {"demographic_parity_difference": 0.031},
                },
            },
        },
        "lineage": {"has_provenance_chain": True, "builders": [], "upstream_kinds": ["commit", "image", "dataset"]},
        "approvals": [
            {"approver": "ana", "role": "engineering-lead", "at": "2025-06-29T10:00:00Z"},
            {"approver": "bo", "role": "risk-owner", "at": "2025-06-29T11:00:00Z"},
        ],
        "baseline": {"version": "6", "evidence_id": 88, "metrics": {"auc": 0.87}, "fairness": {}},
    }


def with_change(path: str, value):
    facts = passing_facts()
    *parents, last = path.split(".")
    target = facts
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return facts


DELETE = object()

EXAMPLES = [
    # rule key, a change that makes it fail, the kind whose absence makes it missing
    ("sast-no-high-findings", ("evidence.sast-scan.summary.high_severity", 2), "sast-scan"),
    ("tests-ran-and-passed", ("evidence.test-report.summary.failed", 1), "test-report"),
    ("sbom-for-deployed-image", ("evidence.sbom.summary.components_total", 0), "sbom"),
    (
        "provenance-allowed-builder",
        ("evidence.provenance.summary.builder_id", "https://ci.example/jenkins/job/build"),
        "provenance",
    ),
    ("provenance-allowed-builder", ("evidence.provenance.summary.verified", False), "provenance"),
    ("provenance-signed", ("evidence.provenance.summary.verified", False), "provenance"),
    ("provenance-signed", ("evidence.provenance.summary.verified", DELETE), "provenance"),
    ("fairness-and-auc-vs-production", ("evidence.fairness.summary.metrics.auc", 0.84), "fairness"),
    ("security-scan-fresh", ("evidence.sast-scan.effective_at", "2025-05-30T11:59:00Z"), "sast-scan"),
]


def _subject_for(rule_key: str, facts: dict) -> dict:
    if rule_key == "fairness-and-auc-vs-production":
        facts["subject"] = {"kind": "model-version", "uri": "mlflow://scorer/7", "digest": "", "name": "scorer 7"}
    return facts


@pytest.mark.parametrize(("key", "change", "kind"), EXAMPLES, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXAMPLES)])
def test_example_rule_passes_fails_and_reports_missing_evidence(key, change, kind):
    rule = RULES[key]
    passed = evaluate_rule(rule, _subject_for(key, passing_facts()))
    assert (passed.status, passed.passed) == ("pass", True), passed.reason

    failed = evaluate_rule(rule, _subject_for(key, with_change(*change)))
    assert (failed.status, failed.passed) == ("fail", False), failed.reason
    assert failed.reason.startswith("not satisfied: ")

    missing = evaluate_rule(rule, _subject_for(key, with_change(f"evidence.{kind}", DELETE)))
    assert missing == RuleOutcome(
        status="missing",
        passed=None,
        reason=f"missing evidence: no {kind} evidence",
        used=missing.used,
        missing=[kind],
        message=f"No {kind} evidence has been recorded, so this could not be judged",
    )


def test_failing_reason_names_the_fact_that_failed():
    outcome = evaluate_rule(RULES["sast-no-high-findings"], with_change("evidence.sast-scan.summary.high_severity", 2))
    assert outcome == RuleOutcome(
        status="fail",
        passed=False,
        reason="not satisfied: evidence.sast_scan.summary.high_severity = 2",
        used=["101"],
        message="2 high-severity findings in the latest static analysis scan; at most 0 allowed",
    )


def test_scan_age_is_computed_from_now_and_the_boundary_is_inclusive():
    at_30_days = with_change("evidence.sast-scan.effective_at", "2025-05-31T12:00:00Z")
    assert evaluate_rule(RULES["security-scan-fresh"], at_30_days).status == "pass"
    outcome = evaluate_rule(RULES["security-scan-fresh"], with_change("evidence.sast-scan.effective_at", "2025-05-01"))
    assert outcome.status == "fail"
    assert outcome.reason == "not satisfied: evidence.sast_scan.age_days = 60.5"


def test_fairness_rule_is_missing_without_a_production_baseline_and_fails_on_parity():
    rule = RULES["fairness-and-auc-vs-production"]
    no_baseline = _subject_for(rule.key, with_change("baseline", {}))
    outcome = evaluate_rule(rule, no_baseline)
    assert (outcome.status, outcome.passed, outcome.missing) == ("missing", None, ["baseline"])
    assert outcome.reason == "missing evidence: no production baseline to compare with"
    assert outcome.used == ["105"]

    unfair = _subject_for(
        rule.key, with_change("evidence.fairness.summary.fairness.demographic_parity_difference", 0.05)
    )
    assert evaluate_rule(rule, unfair).status == "fail"
    # AUC exactly 0.02 below production still passes
    at_limit = _subject_for(rule.key, with_change("evidence.fairness.summary.metrics.auc", 0.85))
    result = evaluate_rule(rule, at_limit)
    assert result.status == "pass"
    assert result.used == ["105", "88"]


def test_two_distinct_approvers_are_needed_and_the_same_person_twice_is_not_enough():
    rule = RULES["release-two-approvers"]
    assert evaluate_rule(rule, passing_facts()).status == "pass"
    same_twice = with_change("approvals", [{"approver": "ana", "role": "a"}, {"approver": "ana", "role": "b"}])
    assert evaluate_rule(rule, same_twice).status == "fail"
    assert evaluate_rule(rule, with_change("approvals", [])).status == "fail"
    low_tier = with_change("system.risk_tier", "low")
    outcome = evaluate_rule(rule, low_tier)
    assert (outcome.status, outcome.passed) == ("not-applicable", None)
    assert outcome.reason == "applies only to system risk_tier high, critical, not low"


def test_provenance_chain_applies_only_to_production_deployments():
    rule = RULES["provenance-chain-complete"]
    facts = with_change("subject", {"kind": "deployment", "uri": "deploy://scorer/prod/9"})
    assert evaluate_rule(rule, facts).status == "pass"
    facts["lineage"]["has_provenance_chain"] = False
    assert evaluate_rule(rule, facts).reason == "not satisfied: lineage.has_provenance_chain = false"
    assert evaluate_rule(rule, passing_facts()).status == "not-applicable"


def test_spdx_sbom_counts_packages_when_there_are_no_cyclonedx_components():
    facts = with_change("evidence.sbom.summary", {"packages_total": 12})
    assert evaluate_rule(RULES["sbom-for-deployed-image"], facts).status == "pass"


def test_has_distinguishes_an_absent_kind_inside_an_expression():
    rule = compile_rule("!has(evidence.dpia) || evidence.dpia.age_days < 365.0")
    assert evaluate(rule, passing_facts()).status == "pass"
    facts = passing_facts()
    facts["evidence"]["dpia"] = {"id": 7, "effective_at": "2023-01-01T00:00:00Z"}
    assert evaluate(rule, facts).status == "fail"


def test_helper_functions_age_days_and_distinct():
    facts = prepare_facts(passing_facts())
    assert evaluate(compile_rule('age_days("2025-06-29T12:00:00Z") == 1.0'), facts).status == "pass"
    assert evaluate(compile_rule("age_days(evidence.test_report.effective_at) < 2.0"), facts).status == "pass"
    assert evaluate(compile_rule('["a", "b", "a"].distinct() == ["a", "b"]'), facts).status == "pass"
    assert evaluate(compile_rule("now - evidence.sbom.effective_at < duration('48h')"), facts).status == "pass"


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("evidence.sast_scan.summary.no_such_field == 0", "no field 'no_such_field' in the facts"),
        ("evidence.sbom.summary.components_total > 1.5 + 1", "CEL does not coerce"),
        ("subject.kind + 1 == 2", "CEL does not coerce"),
        ("evidence.sast_scan.summary.high_severity", "produced 0 (int), not true or false"),
        ("1 / 0 == 1", "division by zero"),
        ('age_days("last tuesday") < 3.0', "age_days() needs a timestamp"),
        ('int("x") == 1', "Function 'int' error"),
        ("9223372036854775807 + 1 > 0", "overflow"),
    ],
)
def test_runtime_problems_become_an_error_outcome_never_an_exception(expression, words):
    outcome = evaluate(compile_rule(expression), passing_facts())
    assert (outcome.status, outcome.passed) == ("error", False)
    assert words in outcome.reason


@pytest.mark.parametrize(
    ("expression", "line", "column", "words"),
    [
        ("evidence.sast_scan.summary.high_severity ==", 1, 44, "ends too early"),
        (
            "evidence.test_report.summary.tests > 0 &&\n  (evidence.test_report.summary.failed == 0",
            2,
            44,
            "missing ')'",
        ),
        ("size(approvals) >= 2 &&\n\n   subject.kind == 'release", 3, 20, "string is not closed"),
        ("lineage.has_provenance_chain &&& true", 1, 32, "unexpected character '&'"),
        ("evidnce.sbom.summary.components_total > 0", 1, 1, "unknown name 'evidnce'"),
        ("subject.kind == 'image' &&\n  sha256(subject.digest) == ''", 2, 3, "unknown function 'sha256'"),
        ("evidence['sast-scan'].summary.high_severity == 0", 1, 11, "use evidence.sast_scan"),
        ("   ", 1, 1, "empty"),
        ("1 2", 1, 3, "should end here"),
    ],
)
def test_syntax_errors_carry_line_column_and_a_readable_message(expression, line, column, words):
    with pytest.raises(RuleSyntaxError) as caught:
        compile_rule(expression)
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert words in error.message
    assert error.as_dict() == {"message": error.message, "line": line, "column": column}
    assert str(error).startswith(f"line {line}, column {column}: ")


def test_comprehension_variables_are_not_unknown_names():
    compiled = compile_rule("approvals.exists(a, a.role == 'risk-owner') && [1, 2].all(n, n > 0)")
    assert isinstance(compiled, CompiledRule)


def test_overlong_expressions_are_refused_before_reaching_the_native_parser():
    with pytest.raises(RuleSyntaxError, match="longer than"):
        compile_rule("1 + " * MAX_EXPRESSION_LENGTH + "1 == 2")


def test_used_lists_only_evidence_the_expression_reads_or_requires():
    facts = passing_facts()
    assert evaluate(compile_rule("evidence.sbom.summary.components_total > 0"), facts).used == ["103"]
    assert evaluate(compile_rule("size(approvals) > 0"), facts).used == []
    assert evaluate(compile_rule("size(evidence) == 5"), facts).used == ["101", "102", "103", "104", "105"]
    assert evaluate(compile_rule("'evidence.sbom' != ''", requires=["test-report"]), facts).used == ["102"]


def test_fact_model_document_matches_the_engine():
    assert (ROOT / "docs" / "policy-fact-model.md").read_text() == FACT_MODEL_DOC
    for name in ("subject", "system", "evidence", "lineage", "approvals", "baseline", "now", "age_days"):
        assert f"`{name}" in FACT_MODEL_DOC


def test_documented_examples_compile():
    blocks = FACT_MODEL_DOC.split("```cel")[1].split("```")[0]
    expressions, current = [], []
    for line in blocks.splitlines():
        if line.startswith("//") or not line.strip():
            if current:
                expressions.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        expressions.append("\n".join(current))
    assert len(expressions) == 5
    for expression in expressions:
        assert evaluate(
            compile_rule(expression), _subject_for("fairness-and-auc-vs-production", passing_facts())
        ).passed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_either_compiles_or_raises_rule_syntax_error(text):
    try:
        compiled = compile_rule(text)
    except RuleSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.message
        return
    outcome = evaluate(compiled, passing_facts())
    assert outcome.status in ("pass", "fail", "error", "missing")


CEL_PIECES = st.sampled_from(
    [
        "evidence", ".", "sast_scan", "summary", "high_severity", "==", "0", "1.5", "&&", "||", "!", "(", ")",
        "[", "]", "'x'", '"y"', "size", "has", "approvals", "map", "a", ",", "?", ":", "+", "-", "*", "/", "%",
        "in", "true", "false", "null", "subject", "kind", "now", "age_days", "duration('1h')", "{", "}", " ", "\n",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(CEL_PIECES, max_size=25).map("".join))
def test_cel_like_token_soup_either_compiles_or_raises_rule_syntax_error(text):
    try:
        compiled = compile_rule(text)
    except RuleSyntaxError:
        return
    assert evaluate(compiled, passing_facts()).status in ("pass", "fail", "error")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["sast-scan", "test-report", "sbom", "provenance", "fairness", "metrics", "dpia"]),
        st.fixed_dictionaries({"id": st.integers(1, 999), "summary": JSON}, optional={"effective_at": JSON}),
    ),
    JSON,
)
def test_every_default_rule_survives_arbitrary_facts(evidence, approvals):
    facts = copy.deepcopy(passing_facts())
    facts["evidence"] = evidence
    facts["approvals"] = approvals if isinstance(approvals, list) else []
    prepared = prepare_facts(facts)
    for rule in RULES.values():
        outcome = evaluate_rule(rule, prepared)
        assert outcome.status in ("pass", "fail", "missing", "error", "not-applicable")
