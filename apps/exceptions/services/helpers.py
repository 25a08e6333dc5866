"""What the transitions share: row lock, visibility, who to notify, voiding approvals, re-evaluation."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts.notifications import notification_send
from apps.accounts.scoping import can_see_system
from apps.approvals.expiry import expiry_day
from apps.approvals.voiding import decisions_void
from apps.exceptions import chain as chain_mod
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services.validation import Cleaned
from apps.ledger.services import ledger_record
from apps.policy.models import Control, RuleVersion
from apps.policy.services import policy_evaluate
from apps.policy.tasks import policy_evaluate as policy_evaluate_task

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- helpers


def _lock(request_id: int) -> ExceptionRequest:
    try:
        return (
            ExceptionRequest.objects.select_for_update(of=("self",))
            .select_related("control", "system", "artifact")
            .get(pk=request_id)
        )
    except ExceptionRequest.DoesNotExist:
        raise ValidationError(f"no exception request {request_id}") from None


def _ensure_visible(actor, req: ExceptionRequest) -> None:
    if not isinstance(actor, str) and not can_see_system(actor, req.system_id):
        raise PermissionDenied("You cannot see this exception.")


def _owners(req: ExceptionRequest, *, engineers: bool = False):
    people = [req.requested_by, *req.system.risk_owners.all()]
    if engineers:
        people += list(req.system.engineering_owners.all())
    return people


def _approvers_to_ask(req: ExceptionRequest):
    """People who could fill a still-open slot of the chain (the requester excluded)."""
    taken = {a.slot for a in chain_mod.live_approvals(req)}
    people = {}
    for slot in chain_mod.chain_for(req):
        if slot in taken:
            continue
        for user in chain_mod.slot_candidates(slot, req.system, exclude=[req.requested_by_id]):
            people[user.pk] = user
    return list(people.values())


def _notify(people, req: ExceptionRequest, title: str, body: str) -> None:
    notification_send(recipients=people, title=f"{req.reference}: {title}", body=body, url=req.get_absolute_url())


def _apply(req: ExceptionRequest, c: Cleaned) -> None:
    req.control, req.system, req.artifact = c.control, c.system, c.artifact
    req.justification, req.compensating_controls = c.justification, c.compensating_controls
    req.likelihood, req.impact, req.tier = c.likelihood, c.impact, c.tier
    req.expires_at, req.evidence_ids = c.expires_at, c.evidence_ids


def _void_approvals(req: ExceptionRequest, *, actor, reason: str, now: datetime) -> int:
    ids = decisions_void(req.approvals.all(), reason=reason, now=now)
    if ids:
        ledger_record(
            actor=actor,
            action="exception.approvals_voided",
            target=req,
            data={"approvals": ids, "reason": reason[:300], "version": req.version},
        )
    return len(ids)


def _ask_approvers(req: ExceptionRequest, *, why: str) -> None:
    chain = ", ".join(s.label.lower() for s in chain_mod.chain_state(req))
    _notify(
        _approvers_to_ask(req),
        req,
        f"approval needed ({req.get_tier_display()} tier)",
        f"{why}\n\n{req.control.label} {req.control.title} on {req.system.name}, "
        f"until the end of {expiry_day(req.expires_at):%Y-%m-%d}.\n"
        f"Chain: {chain}.",
    )


def rule_ids_for_control(control: Control) -> list[int]:
    return list(
        RuleVersion.objects.filter(current_of__isnull=False, controls__overlap=control.refs).values_list(
            "rule_id", flat=True
        )
    )


def exception_reevaluate(req: ExceptionRequest) -> None:
    """Re-evaluate the covered control on the covered scope now (results flip to/from excepted).

    Runs after the decision committed. If evaluation fails, the decision stands: the failure
    is logged and a policy evaluation is queued instead (the nightly run catches up too)."""

    rule_ids = rule_ids_for_control(req.control)
    if not rule_ids:
        return
    scope = {"subject_ids": [req.artifact_id]} if req.artifact_id else {"system_ids": [req.system_id]}
    try:
        policy_evaluate(**scope, rule_ids=rule_ids, actor=f"system:exceptions {req.reference}")
    except Exception:  # noqa: BLE001 - the committed decision must not look failed; queue a retry instead
        logger.exception("re-evaluation after %s failed; queued", req.reference)

        try:
            policy_evaluate_task.delay(rule_ids=rule_ids, **scope)
        except Exception:  # noqa: BLE001 - broker down as well: the nightly evaluation catches up
            logger.exception("could not queue the re-evaluation after %s", req.reference)
