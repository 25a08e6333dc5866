"""Issue 22: coverage providers answer for a whole evaluation batch, one query per provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.evidence.models import Artifact
from apps.exceptions.models import ExceptionRequest
from apps.inventory.models import System
from apps.policy.models import ControlResult, ResultStatus
from apps.policy.providers import covering_exception_ids
from apps.policy.services import policy_evaluate
from tests.exceptions import conftest as exception_fixtures
from tests.exceptions.conftest import approve_chain

# The exceptions tests' fixtures (a high-tier GDPR system missing its DPIA, its owners, requests), used here.
owners = exception_fixtures.owners
system = exception_fixtures.system
control = exception_fixtures.control
make_request = exception_fixtures.make_request
_fast_password_hashing = exception_fixtures._fast_password_hashing

pytestmark = pytest.mark.django_db


def _exception_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if '"exceptions_exceptionrequest"' in q["sql"]]


def _failing_systems(count: int) -> list[System]:
    """Systems like the exceptions fixture's: high-tier GDPR without a DPIA, so their DPIA control is missing."""
    return [
        System.objects.create(
            name=f"Batch {n}", slug=f"batch-{n}", risk_tier="high", frameworks=["gdpr"], data_classes=["pii"]
        )
        for n in range(count)
    ]


def test_coverage_queries_do_not_grow_with_the_failing_results_of_an_evaluation_batch(make_request, owners, control):
    req = approve_chain(make_request("low", days=10), owners)
    systems = _failing_systems(50)
    with CaptureQueriesContext(connection) as captured:
        policy_evaluate(system_ids=[s.pk for s in systems] + [req.system_id])
    failing = ControlResult.objects.filter(
        system__in=systems, status__in=[ResultStatus.FAIL, ResultStatus.MISSING]
    ).count()
    assert failing >= 50
    # one query per provider per batch (the exceptions app is the one provider), not one per failing result
    assert len(_exception_queries(captured)) == 1
    # and the answer is still right: the approved exception covers its own system's result
    covered = ControlResult.objects.get(control=control, system_id=req.system_id, artifact__isnull=True)
    assert covered.status == ResultStatus.EXCEPTED and covered.exception_id == req.pk
    assert not ControlResult.objects.filter(system__in=systems, status=ResultStatus.EXCEPTED).exists()


def _artifact(system, n: int) -> Artifact:
    return Artifact.objects.create(
        kind="release", uri=f"urn:test:release:{n}", system=system, first_seen=timezone.now()
    )


def test_the_batch_answer_keeps_the_scope_rules_of_a_narrowed_exception(make_request, owners, control, system):
    first, second = _artifact(system, 1), _artifact(system, 2)
    wide = approve_chain(make_request("low", days=10), owners)
    narrowed = approve_chain(make_request("low", days=20, artifact=first.pk), owners)
    at = wide.expires_at - timedelta(days=1)
    keys = [(control.pk, system.pk, None), (control.pk, system.pk, first.pk), (control.pk, system.pk, second.pk)]
    with CaptureQueriesContext(connection) as captured:
        covered = covering_exception_ids(keys, at)
    assert len(_exception_queries(captured)) == 1
    # a system-scope result: only the system-wide exception; the narrowed one covers its artifact only,
    # and wins there because it expires later
    assert covered == {keys[0]: wide.pk, keys[1]: narrowed.pk, keys[2]: wide.pk}


def test_the_batch_answer_leaves_out_expired_other_controls_and_other_systems(make_request, owners, control, system):
    req = approve_chain(make_request("low", days=10), owners)
    other = System.objects.get(slug="other")
    keys = [(control.pk, system.pk, None), (control.pk + 100000, system.pk, None), (control.pk, other.pk, None)]
    assert covering_exception_ids(keys, req.expires_at - timedelta(seconds=1)) == {keys[0]: req.pk}
    assert covering_exception_ids(keys, req.expires_at) == {}
    assert covering_exception_ids([], req.expires_at) == {}


def test_of_two_system_wide_exceptions_the_latest_expiry_covers(make_request, owners, control, system):
    sooner = approve_chain(make_request("low", days=5), owners)
    later = approve_chain(make_request("low", days=9, artifact=_artifact(system, 1).pk), owners)
    ExceptionRequest.objects.filter(pk=later.pk).update(artifact=None)  # a second system-wide one, as data
    key = (control.pk, system.pk, None)
    assert covering_exception_ids([key], sooner.expires_at - timedelta(days=1)) == {key: later.pk}
