"""Property-based: no sequence of actions reaches APPROVED without a complete, valid chain,
and every status change follows ExceptionRequest.TRANSITIONS."""

import contextlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from apps.exceptions.chain import chain_for, holds_slot, live_approvals
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import (
    ExceptionInput,
    exception_approve,
    exception_expire,
    exception_reject,
    exception_revoke,
    exception_update,
)
from apps.exceptions.tiers import Tier

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status
PEOPLE = [
    "engineer",
    "risk_owner",
    "risk_owner_2",
    "other_risk_owner",
    "compliance",
    "compliance_2",
    "executive",
    "admin",
    "auditor",
]
REFUSED = (PermissionDenied, ValidationError)


def test_no_sequence_of_actions_approves_without_a_complete_valid_chain(make_request, owners, system):
    class Machine(RuleBasedStateMachine):
        @initialize(tier=st.sampled_from(Tier.values))
        def start(self, tier):
            self.savepoint = transaction.savepoint()
            self.req = make_request(tier)
            self.last = self.req.status

        def teardown(self):
            if hasattr(self, "savepoint"):
                transaction.savepoint_rollback(self.savepoint)

        @rule(who=st.sampled_from(PEOPLE), stale=st.booleans())
        def approve(self, who, stale):
            at = timezone.now() - (timedelta(hours=1) if stale else timedelta(0))
            with contextlib.suppress(REFUSED):
                exception_approve(request_id=self.req.pk, approver=owners[who], reauthenticated_at=at)

        @rule(who=st.sampled_from(PEOPLE))
        def reject(self, who):
            with contextlib.suppress(REFUSED):
                exception_reject(
                    request_id=self.req.pk, approver=owners[who], comment="no", reauthenticated_at=timezone.now()
                )

        @rule(who=st.sampled_from(["engineer", "compliance", "risk_owner"]), likelihood=st.integers(1, 5))
        def edit(self, who, likelihood):
            req = ExceptionRequest.objects.get(pk=self.req.pk)
            data = ExceptionInput(
                control=req.control.control_id,
                system=system.slug,
                justification=req.justification + " More.",
                compensating_controls=req.compensating_controls,
                likelihood=likelihood,
                impact=req.impact,
                expires_at=min(req.expires_at, timezone.now() + timedelta(days=13)),
            )
            with contextlib.suppress(REFUSED):
                exception_update(request_id=req.pk, actor=owners[who], data=data)

        @rule(who=st.sampled_from(["compliance", "risk_owner"]))
        def revoke(self, who):
            with contextlib.suppress(REFUSED):
                exception_revoke(request_id=self.req.pk, actor=owners[who], reason="test")

        @rule()
        def expire(self):
            exception_expire(request_id=self.req.pk, now=timezone.now() + timedelta(days=400))

        @invariant()
        def approved_only_with_a_complete_valid_chain(self):
            if not hasattr(self, "req"):
                return
            req = ExceptionRequest.objects.select_related("system").get(pk=self.req.pk)
            assert req.status == self.last or req.status in ExceptionRequest.TRANSITIONS[self.last]
            self.last = req.status
            if req.status != Status.APPROVED:
                return
            live = live_approvals(req)
            assert {a.slot for a in live} >= set(chain_for(req))
            people = [a.approver_id for a in live]
            assert len(people) == len(set(people))
            assert req.requested_by_id not in people
            for a in live:
                assert holds_slot(a.approver, a.slot, req.system)
                assert a.request_digest == req.digest() and a.request_version == req.version

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
