"""policy_evaluate: the only writer of results; every change is history plus a ledger entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.ledger.models import PendingEntry
from apps.policy.models import ControlResult, ControlResultChange, ResultStatus, Rule
from apps.policy.selectors import results_view
from apps.policy.services import evaluation as evaluation_services
from apps.policy.services import policy_evaluate, rule_save

pytestmark = pytest.mark.django_db


def _results(rule_key: str, **filters):
    return ControlResult.objects.filter(rule__key=rule_key, **filters).select_related("control")


def test_a_second_evaluation_with_nothing_new_writes_nothing(marketing):
    first = policy_evaluate()
    assert first.changed > 0
    changes, ledger = ControlResultChange.objects.count(), PendingEntry.objects.count()
    again = policy_evaluate()
    assert again.changed == 0
    assert ControlResultChange.objects.count() == changes
    assert PendingEntry.objects.count() == ledger


def test_every_result_change_writes_history_and_a_ledger_entry(marketing):
    policy_evaluate()
    results = ControlResult.objects.count()
    assert ControlResultChange.objects.count() == results
    entries = PendingEntry.objects.filter(action="control_result.changed")
    assert entries.count() == results
    assert set(entries.values_list("object_id", flat=True)) == {
        str(pk) for pk in ControlResult.objects.values_list("pk", flat=True)
    }


def test_a_changed_result_is_stored_as_its_history_row_says(marketing, compliance_officer):
    """Changed results are written in one UPDATE: each stored field must be the one the change recorded."""
    from apps.policy.services import policy_evaluate_pending

    policy_evaluate()
    policy_evaluate_pending()
    rule = Rule.objects.get(key="security-scan-fresh")
    data = rule.current.as_rule_dict()
    data.pop("key")
    data["expression"] = "evidence.sast_scan.age_days <= 0.000001"  # every scan is now too old
    rule_save(actor=compliance_officer, key=rule.key, data=data, note="impossible")
    before = ControlResultChange.objects.count()
    assert policy_evaluate(rule_ids=[rule.pk]).changed > 0
    changes = ControlResultChange.objects.order_by("pk")[before:]
    assert changes
    for change in changes:
        stored = ControlResult.objects.get(pk=change.result_id)
        assert (stored.status, stored.reason, stored.message, stored.evidence_ids, stored.rule_version_id,
                stored.exception_id, stored.evaluated_at, stored.system_id) == (
            change.status, change.reason, change.message, change.evidence_ids, change.rule_version_id,
            change.exception_id, change.changed_at, change.system_id)  # fmt: skip
        assert stored.rule_version.version == 2


def test_the_release_misses_only_its_sbom(marketing):
    policy_evaluate()
    release = "release:https://github.com/acme/marketing-site@2.4.0"
    statuses = {
        (r.rule.key, r.status) for r in ControlResult.objects.filter(artifact__uri=release).select_related("rule")
    }
    assert ("sbom-for-deployed-image", ResultStatus.MISSING) in statuses
    assert ("tests-ran-and-passed", ResultStatus.PASS) in statuses  # inherited from the commit
    assert ("provenance-allowed-builder", ResultStatus.PASS) in statuses
    assert ("sast-no-high-findings", ResultStatus.PASS) in statuses


def test_an_unencrypted_bucket_fails_the_hipaa_encryption_control_naming_the_resource(clinical):
    policy_evaluate()
    result = _results("infra-encryption-at-rest-managed-key", control__control_id="hipaa-164-312-a-2-iv").get()
    assert result.artifact_id is None  # judged on the system as a whole
    assert result.status == ResultStatus.FAIL
    assert "aws_s3_bucket.raw_exports" in result.reason and "aws_db_instance.reporting" in result.reason
    privileged = _results("k8s-no-privileged-pods-phi").first()
    assert privileged.status == ResultStatus.FAIL and "node-debug" in privileged.reason


def test_history_refuses_update_and_delete(marketing):
    policy_evaluate()
    change = ControlResultChange.objects.first()
    for sql in (
        "UPDATE policy_controlresultchange SET status = 'pass' WHERE id = %s",
        "DELETE FROM policy_controlresultchange WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [change.pk])


def test_results_as_of_a_past_day_come_from_history(marketing, compliance_officer):
    from django.db.models import Q

    then_moment = timezone.now() - timedelta(days=2, hours=12)
    policy_evaluate(now=then_moment, as_of=then_moment)  # the commit's scans existed, the release did not
    policy_evaluate()
    commit = Q(
        rule__key="security-scan-fresh",
        artifact__uri="git+https://github.com/acme/marketing-site@" + "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345",
    )
    release = Q(rule__key="security-scan-fresh", artifact__uri="release:https://github.com/acme/marketing-site@2.4.0")
    day_then = then_moment.date()
    assert {v.status for v in results_view(compliance_officer, commit, as_of=None)} == {ResultStatus.PASS}
    assert results_view(compliance_officer, release, as_of=None)
    assert results_view(compliance_officer, release, as_of=day_then) == []  # not known then
    then = results_view(compliance_officer, commit, as_of=day_then)
    assert then and {v.status for v in then} == {ResultStatus.PASS}
    assert then[0].at == then_moment


def test_saving_a_rule_adds_a_version_records_it_and_reevaluates_after_commit(
    marketing, compliance_officer, django_capture_on_commit_callbacks
):
    policy_evaluate()
    rule = Rule.objects.get(key="security-scan-fresh")
    data = rule.current.as_rule_dict()
    data.pop("key")
    data["expression"] = "evidence.sast_scan.age_days <= 1.0"
    with django_capture_on_commit_callbacks() as callbacks:
        version = rule_save(actor=compliance_officer, key=rule.key, data=data, note="tighter")
    assert version.version == 2
    assert PendingEntry.objects.filter(action="rule.changed", object_id=str(rule.pk)).exists()
    assert len(callbacks) == 1
    # the task would run this: only the changed rule, only its subjects
    stats = policy_evaluate(rule_ids=[rule.pk])
    assert stats.changed > 0
    assert set(ControlResult.objects.filter(rule=rule).values_list("rule_version__version", flat=True)) == {2}
    # saving the same thing again is not a new version
    assert rule_save(actor=compliance_officer, key=rule.key, data=data).version == 2


def test_engineers_cannot_change_rules(engineer):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        rule_save(actor=engineer, key="x-rule", data={"title": "x", "controls": ["soc2-cc7-1"], "expression": "true"})


def test_an_approved_exception_makes_a_failing_result_excepted(marketing, monkeypatch):
    monkeypatch.setattr(evaluation_services, "exception_covers", lambda keys, at: dict.fromkeys(keys, 4242))
    policy_evaluate()
    excepted = ControlResult.objects.filter(rule__key="sbom-for-deployed-image")
    assert excepted and all(r.status == ResultStatus.EXCEPTED and r.exception_id == 4242 for r in excepted)


def test_a_rule_without_a_selector_is_judged_on_every_system_when_evaluated_alone(
    marketing, clinical, compliance_officer
):
    # An empty selector selects everything; OR-ing an empty Q into "nothing" used to select nothing, so a
    # rule saved without a selector got no results until the nightly full run.
    data = {"title": "Every system has an owner", "controls": ["soc2-cc7-2"], "expression": "true"}
    rule = rule_save(actor=compliance_officer, key="every-system-owned", data=data).rule
    policy_evaluate(rule_ids=[rule.pk])
    judged = set(_results("every-system-owned").values_list("system__slug", flat=True))
    assert {marketing["system"].slug, clinical["system"].slug} <= judged
