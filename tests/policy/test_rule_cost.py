"""Issue 17, hole 7: a rule cannot stall a worker.

A rule's cost is bounded twice: at save time (size and nesting of comprehensions) and at run
time (a time budget per rule per evaluation batch, enforced by evaluating in a child process
that is killed when the budget runs out: cel-rust holds the GIL and cannot be interrupted)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.policy.engine import RuleSyntaxError, compile_rule, evaluate_bounded, prepare_facts
from apps.policy.models import ControlResult, Rule, RuleVersion
from apps.policy.services import policy_evaluate, rule_save

SEVENTEEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]"


def nested(depth: int, over: str = "lineage.builders", test: str = " != ''") -> str:
    """depth comprehensions inside each other: each level costs ~17x the one inside it."""
    names = "abcdefg"[:depth]
    expression = " + ".join(names) + test
    for name in reversed(names):
        expression = f"{over}.all({name}, {expression})"
    return expression


# The reproduction: 148 characters, 0.7 to 1.3 s per evaluation on a 17-builder lineage.
SLOW_RULE = nested(5)
SEVENTEEN_BUILDERS = {"lineage": {"builders": [f"builder-{i}" for i in range(17)]}}


def test_the_slow_nested_rule_is_refused_at_compile_time_with_a_clear_message():
    with pytest.raises(RuleSyntaxError) as caught:
        compile_rule(SLOW_RULE)
    assert "nested" in caught.value.message and "at most 2" in caught.value.message
    assert caught.value.column > 1  # points at the comprehension that goes too deep


def test_two_nested_comprehensions_still_compile():
    assert compile_rule(nested(2)).expression == nested(2)


def test_a_rule_nested_in_too_many_brackets_is_refused():
    with pytest.raises(RuleSyntaxError, match="brackets"):
        compile_rule("(" * 40 + "true" + ")" * 40)


def test_a_slow_rule_over_a_batch_fails_with_the_time_budget_reason_instead_of_hanging():
    slow = compile_rule(SLOW_RULE, saving=False)  # a rule stored before the limits existed
    quick = compile_rule("size(lineage.builders) == 17")
    facts = [prepare_facts(SEVENTEEN_BUILDERS) for _ in range(4)]
    outcomes = evaluate_bounded([slow, quick], facts, budget_ms=300)
    assert [o.status for o in outcomes[0]] == ["error"] * 4
    assert all(o.reason == "evaluation exceeded its time budget of 300 ms" for o in outcomes[0])
    assert [o.status for o in outcomes[1]] == ["pass"] * 4  # the next rule still ran


def test_within_the_budget_outcomes_are_those_of_plain_evaluation():
    rules = [compile_rule("size(lineage.builders) > 3"), compile_rule("lineage.nope == 1", saving=False)]
    facts = [prepare_facts(SEVENTEEN_BUILDERS), prepare_facts({})]
    outcomes = evaluate_bounded(rules, facts, budget_ms=5000)
    assert [[o.status for o in row] for row in outcomes] == [["pass", "fail"], ["error", "error"]]


@pytest.mark.django_db
def test_saving_the_slow_nested_rule_is_refused_and_stores_nothing(compliance_officer):
    data = {"title": "Builders are all distinct", "controls": ["soc2-cc6-8"], "expression": SLOW_RULE,
            "selector": {"artifact_kinds": ["release"]}, "severity": "low", "mode": "warn"}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        rule_save(actor=compliance_officer, key="builders-distinct", data=data)
    assert "nested" in " ".join(caught.value.messages)
    assert not Rule.objects.filter(key="builders-distinct").exists()


@pytest.mark.django_db
def test_a_stored_slow_rule_fails_its_results_with_the_budget_reason(marketing, settings):
    settings.PORTAL_POLICY_RULE_BUDGET_MS = 300
    policy_evaluate()
    version = RuleVersion.objects.filter(current_of__isnull=False, selector__artifact_kinds__contains=["release"])[0]
    rule = version.rule
    now = timezone.now()
    # A version written before the save-time limits: stored rows are evaluated, never refused.
    slow = RuleVersion.objects.create(
        rule=rule, version=version.version + 1, title=version.title, controls=version.controls, requires=[],
        expression=nested(5, SEVENTEEN, " >= 0"), selector={"artifact_kinds": ["release"]}, severity=version.severity,
        mode=version.mode, fingerprint="slow", created_at=now,
    )  # fmt: skip
    rule.current = slow
    rule.save(update_fields=["current"])
    stats = policy_evaluate(rule_ids=[rule.pk])
    assert stats.evaluated >= 1
    results = ControlResult.objects.filter(rule=rule, rule_version=slow)
    assert results.exists()
    assert {r.status for r in results} == {"fail"}
    assert all("evaluation exceeded its time budget of 300 ms" in r.reason for r in results)
