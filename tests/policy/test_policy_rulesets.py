"""The default rule set and the rule-set loader's validation."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from apps.policy.oscal import shipped_catalogs
from apps.policy.rulesets import (
    DEFAULT_RULES,
    RuleSetError,
    control_frameworks,
    evaluate_rule_set,
    load_rule_set,
    rule_from_dict,
    rules_from_data,
)


def test_every_default_rule_compiles_and_maps_to_existing_controls():
    rules = load_rule_set()
    assert len(rules) >= 15
    known = {c.id for spec in shipped_catalogs().values() for c in spec.controls}
    for rule in rules:
        assert rule.compiled.expression == rule.expression
        assert set(rule.controls) <= known
        assert rule.severity in ("low", "medium", "high", "critical") and rule.mode in ("gate", "warn")
    assert len({r.key for r in rules}) == len(rules)


def test_each_framework_has_several_covered_controls_and_some_deliberately_uncovered():
    catalogs = shipped_catalogs()
    frameworks = control_frameworks(catalogs)
    covered = {c for rule in load_rule_set() for c in rule.controls}
    for code, spec in catalogs.items():
        ids = set(spec.control_ids())
        assert len(ids & covered) >= 4, code
        assert ids - covered, f"{code}: every control has a rule; some should show as not covered"
    assert {frameworks[c] for c in covered} == set(catalogs)


def test_the_issue_examples_ship_as_default_rules():
    keys = {r.key for r in load_rule_set()}
    assert {
        "sast-no-high-findings",
        "tests-ran-and-passed",
        "sbom-for-deployed-image",
        "provenance-allowed-builder",
        "fairness-and-auc-vs-production",
        "security-scan-fresh",
        "release-two-approvers",
    } <= keys


def test_gates_and_warnings_are_both_present():
    modes = {r.mode for r in load_rule_set()}
    assert modes == {"gate", "warn"}


def test_fingerprint_changes_with_the_expression_only_when_meaning_changes():
    raw = yaml.safe_load(DEFAULT_RULES.read_text())["rules"][0]
    first = rule_from_dict(raw)
    assert rule_from_dict({**raw, "title": "Renamed"}).fingerprint() == first.fingerprint()
    assert rule_from_dict({**raw, "expression": raw["expression"] + " && true"}).fingerprint() != first.fingerprint()


def _rule(**changes) -> dict:
    base = {
        "key": "custom-rule",
        "title": "A custom rule",
        "controls": ["soc2-cc8-1"],
        "expression": "size(approvals) > 0",
        "severity": "low",
        "mode": "warn",
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"controls": ["soc2-cc99-1"]}, "'soc2-cc99-1' is not a control of any loaded catalog"),
        ({"controls": []}, "controls: must name at least one"),
        ({"expression": "size(approvals) >"}, "expression: line 1, column 18: the expression ends too early"),
        ({"expression": "size(approvals) > 0 &&\n  evidnce.x"}, "expression: line 2, column 3: unknown name 'evidnce'"),
        ({"severity": "urgent"}, "severity: 'urgent' is not one of low, medium, high, critical"),
        ({"mode": "block"}, "mode: 'block' is not one of gate, warn"),
        ({"selector": {"regions": ["eu"]}}, "selector: unknown field 'regions'"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"key": "Bad Key"}, "is not a rule key"),
        ({"version": 0}, "version: must be a whole number"),
        ({"requires": [""]}, "requires: must be a list of names"),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule_and_field(changes, words):
    with pytest.raises(RuleSetError) as caught:
        rules_from_data({"version": 1, "rules": [_rule(**changes)]}, source="mine.yaml")
    assert str(caught.value).startswith("mine.yaml: rules[0]")
    assert words in str(caught.value)


def test_duplicate_keys_and_bad_files_are_refused(tmp_path):
    with pytest.raises(RuleSetError, match=r"rules\[1\] \(custom-rule\): the key is used by an earlier rule"):
        rules_from_data({"rules": [_rule(), _rule()]})
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(RuleSetError, match="broken.yaml: not valid YAML"):
        load_rule_set(path)
    path.write_text("- just a list\n")
    with pytest.raises(RuleSetError, match='expected a mapping with a "rules" list'):
        load_rule_set(path)


def test_a_rule_set_from_a_file_checks_controls_against_the_given_catalogs(tmp_path):
    path = tmp_path / "hipaa-only.yaml"
    path.write_text(
        textwrap.dedent(
            """
            version: 1
            rules:
              - key: audit-trail
                title: Audit trail exists
                controls: [hipaa-164-312-b]
                requires: [audit-log]
                expression: evidence.audit_log.age_days < 1.0
                selector: {data_classes: [phi]}
            """
        )
    )
    catalogs = {"hipaa": shipped_catalogs()["hipaa"]}
    (rule,) = load_rule_set(path, catalogs=catalogs)
    assert rule.requires == ("audit-log",) and rule.compiled.requires == ("audit_log",)
    assert rule.mode == "warn" and rule.severity == "medium" and rule.version == 1
    with pytest.raises(RuleSetError, match="'soc2-cc8-1' is not a control"):
        rules_from_data({"rules": [_rule()]}, catalogs=catalogs)


def test_evaluating_the_default_set_on_a_bare_commit_gives_a_mix_of_outcomes():
    facts = {
        "subject": {"kind": "commit", "uri": "git+https://git.example/acme/api@" + "c" * 40},
        "system": {"kind": "service", "risk_tier": "medium", "data_classes": ["pii"], "frameworks": ["gdpr", "soc2"]},
        "evidence": {
            "test-report": {
                "id": 1,
                "effective_at": "2025-01-01T00:00:00Z",
                "summary": {"tests": 3, "failed": 1, "errored": 0},
            }
        },
        "now": "2025-01-02T00:00:00Z",
    }
    outcomes = {rule.key: outcome.status for rule, outcome in evaluate_rule_set(load_rule_set(), facts)}
    assert outcomes["tests-ran-and-passed"] == "fail"
    assert outcomes["sast-no-high-findings"] == "missing"
    assert outcomes["no-transport-or-crypto-weaknesses"] == "missing"
    assert outcomes["sbom-for-deployed-image"] == "not-applicable"
    assert outcomes["fairness-and-auc-vs-production"] == "not-applicable"
    assert set(outcomes.values()) == {"fail", "missing", "not-applicable"}
