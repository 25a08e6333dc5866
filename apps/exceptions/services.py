"""Writes of the exceptions app: one service per transition, each in one transaction with its ledger entry.

Each service locks the request row, checks the move (ExceptionRequest.TRANSITIONS) and the
actor (chain.py: separation of duties, roles per system; reauth.py: fresh sign-in), writes,
records the ledger entry and notifies people (in-app now, e-mail after commit). Moves that
change what is covered (approve, revoke, expire, return to review) then re-evaluate the
covered control on the covered scope, synchronously, so the result flips at once.

    exception_request   create (draft, or submitted at once)
    exception_submit    draft -> pending
    exception_update    edit a draft or pending request: version + 1, earlier approvals void
    exception_approve   one approval; pending -> approved when the chain is complete
    exception_reject    pending -> rejected
    exception_revoke    approved/pending -> revoked (compliance officer, with reason)
    exception_expire    approved/pending -> expired at expires_at (beat, every minute)
    exception_renew     a new linked request that goes through approval again
    exception_return_to_review   approved -> pending when the frozen state materially changed
    exception_reminders_send     expiry and waiting reminders, once per lead time
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.notifications import notification_send
from apps.accounts.scoping import can_see_system, scope_evidence
from apps.approvals.digest import ensure_digest
from apps.approvals.expiry import days_left_phrase, expiry_day, latest_expiry
from apps.approvals.reauth import ensure_recent_reauth
from apps.approvals.refusals import decision_refusals_recorded
from apps.approvals.slots import Slot
from apps.approvals.voiding import decisions_void
from apps.evidence.models import Artifact, Evidence
from apps.exceptions import chain as chain_mod
from apps.exceptions.findings import material_changes
from apps.exceptions.models import Approval, ExceptionMetricSnapshot, ExceptionReminder, ExceptionRequest
from apps.exceptions.selectors import can_edit, can_request, can_revoke, covered_results, current_state
from apps.exceptions.tiers import Tier, tier_policy
from apps.inventory.models import System
from apps.ledger.services import ledger_record
from apps.policy.models import Control, ResultStatus, RuleVersion

logger = logging.getLogger(__name__)
Status = ExceptionRequest.Status
MIN_TEXT = 20  # characters of justification and of compensating controls


# ---------------------------------------------------------------- input


@dataclass
class ExceptionInput:
    """What a requester says (the form and the API both build one)."""

    control: str  # Control.control_id, e.g. "gdpr-35-1"
    system: str  # System.slug
    justification: str
    compensating_controls: str
    likelihood: int
    impact: int
    expires_at: datetime
    artifact: int | None = None  # Artifact id narrowing the scope
    evidence_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Cleaned:
    control: Control
    system: System
    artifact: Artifact | None
    justification: str
    compensating_controls: str
    likelihood: int
    impact: int
    tier: str
    expires_at: datetime
    evidence_ids: list[int]


def max_expiry(tier: str, *, now: datetime) -> datetime:
    """The longest expiry a tier allows: the end of the day its maximum duration falls on."""
    return latest_expiry(now=now, max_days=tier_policy().rule(tier).max_days)


def exception_validate(
    *,
    actor,
    data: ExceptionInput,
    now: datetime | None = None,
    exclude_pk: int | None = None,
    renewal_of_pk: int | None = None,
) -> Cleaned:
    """Check a request's fields; ValidationError with a message per field saying what is wrong."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    # A control id, or "<framework code>:<id>" where frameworks share the id (ids are unique per framework).
    controls = list(Control.objects.for_ref((data.control or "").strip()).select_related("framework")[:2])
    control = controls[0] if len(controls) == 1 else None
    if not controls:
        err("control", f"no control {data.control!r}; use a control id such as gdpr-35-1")
    elif control is None:
        err("control", f"control id {data.control!r} is in several frameworks; name one as <framework code>:<id>")
    system = System.objects.filter(slug=(data.system or "").strip()).first()
    if system is None or not can_see_system(actor, system.pk):
        err("system", f"no system {data.system!r}")
        system = None
    elif not can_request(actor, system):
        raise PermissionDenied(
            f"You cannot request exceptions for {system.name}: "
            "its engineers, its risk owners and compliance officers can."
        )
    artifact = None
    if data.artifact:
        artifact = Artifact.objects.filter(pk=data.artifact).first()
        if artifact is None or (system is not None and artifact.system_id != system.pk):
            err("artifact", "that artifact is not one of this system's")
            artifact = None
    justification = (data.justification or "").strip()
    if len(justification) < MIN_TEXT:
        err("justification", f"say why the business accepts this risk (at least {MIN_TEXT} characters)")
    compensating = (data.compensating_controls or "").strip()
    if len(compensating) < MIN_TEXT:
        err("compensating_controls", f"describe what reduces the risk meanwhile (at least {MIN_TEXT} characters)")
    tier = None
    for name in ("likelihood", "impact"):
        value = getattr(data, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            err(name, "choose from 1 to 5")
    if "likelihood" not in errors and "impact" not in errors:
        tier = tier_policy().tier_for(data.likelihood, data.impact)
    expires_at = data.expires_at
    if expires_at is None or timezone.is_naive(expires_at):
        err("expires_at", "give the expiry as a date (or an aware date-time)")
    elif expires_at <= now:
        err("expires_at", "the expiry must be in the future")
    elif tier is not None and expires_at > max_expiry(tier, now=now):
        days = tier_policy().rule(tier).max_days
        err(
            "expires_at",
            f"a {tier}-tier exception lasts at most {days} days: "
            f"choose {expiry_day(max_expiry(tier, now=now)):%Y-%m-%d} or earlier",
        )
    evidence_ids = sorted({int(e) for e in data.evidence_ids or []})
    if evidence_ids and system is not None:
        visible = set(
            scope_evidence(actor, Evidence.objects.filter(pk__in=evidence_ids, system=system)).values_list(
                "pk", flat=True
            )
        )
        missing = [e for e in evidence_ids if e not in visible]
        if missing:
            err("evidence_ids", f"not evidence of {system.slug} that you can see: {', '.join(map(str, missing))}")
    if control is not None and system is not None and not errors.get("artifact"):
        probe = ExceptionRequest(control=control, system=system, artifact=artifact)
        statuses = {r.status for r in covered_results(probe)}
        if statuses and statuses <= {ResultStatus.PASS, ResultStatus.NOT_APPLICABLE}:
            err("control", f"{control.label} passes on this scope: there is nothing to accept")
        clash = ExceptionRequest.objects.filter(
            control=control, system=system, status__in=[Status.DRAFT, Status.PENDING, Status.APPROVED]
        ).filter(Q(artifact=artifact) if artifact else Q(artifact__isnull=True))
        if exclude_pk:
            clash = clash.exclude(pk=exclude_pk)
        if renewal_of_pk:
            clash = clash.exclude(pk=renewal_of_pk)
        other = clash.order_by("pk").first()
        if other is not None:
            hint = "renew it instead" if other.status == Status.APPROVED else "edit that one instead"
            err(
                "control",
                f"{other.reference} already covers {control.label} on this scope "
                f"({other.get_status_display().lower()}): {hint}",
            )
    if errors:
        raise ValidationError(errors)
    return Cleaned(
        control=control,
        system=system,
        artifact=artifact,
        justification=justification,
        compensating_controls=compensating,
        likelihood=data.likelihood,
        impact=data.impact,
        tier=tier,
        expires_at=expires_at,
        evidence_ids=evidence_ids,
    )


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
    from apps.policy.services import policy_evaluate

    rule_ids = rule_ids_for_control(req.control)
    if not rule_ids:
        return
    scope = {"subject_ids": [req.artifact_id]} if req.artifact_id else {"system_ids": [req.system_id]}
    try:
        policy_evaluate(**scope, rule_ids=rule_ids, actor=f"system:exceptions {req.reference}")
    except Exception:  # noqa: BLE001 - the committed decision must not look failed; queue a retry instead
        logger.exception("re-evaluation after %s failed; queued", req.reference)
        from apps.policy.tasks import policy_evaluate as policy_evaluate_task

        try:
            policy_evaluate_task.delay(rule_ids=rule_ids, **scope)
        except Exception:  # noqa: BLE001 - broker down as well: the nightly evaluation catches up
            logger.exception("could not queue the re-evaluation after %s", req.reference)


# ---------------------------------------------------------------- create, submit, update


def exception_request(
    *,
    actor,
    data: ExceptionInput,
    submit: bool = False,
    renewal_of: ExceptionRequest | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Create a request (a draft, or submitted for approval at once)."""
    now = now or timezone.now()
    with transaction.atomic():
        cleaned = exception_validate(
            actor=actor, data=data, now=now, renewal_of_pk=renewal_of.pk if renewal_of else None
        )
        req = ExceptionRequest(
            requested_by=actor, status=Status.DRAFT, renewal_of=renewal_of, created_at=now, updated_at=now
        )
        _apply(req, cleaned)
        try:
            with transaction.atomic():
                req.save()
        except IntegrityError:
            raise ValidationError({"control": ["this exception already has an open renewal"]}) from None
        ledger_record(
            actor=actor,
            action="exception.created",
            target=req,
            data={"digest": req.digest(), "version": req.version, **req.approvable()},
        )
        if renewal_of is not None:
            ledger_record(
                actor=actor,
                action="exception.renewal_requested",
                target=renewal_of,
                data={"renewal": req.pk, "expires_at": req.expires_at},
            )
        if submit:
            _submit(req, actor=actor, now=now)
    return req


def _submit(req: ExceptionRequest, *, actor, now: datetime) -> None:
    req.ensure_can_move_to(Status.PENDING)
    if req.expires_at > max_expiry(req.tier, now=now) or req.expires_at <= now:
        raise ValidationError(
            {
                "expires_at": [
                    f"a {req.tier}-tier exception lasts at most {tier_policy().rule(req.tier).max_days} days from now"
                ]
            }
        )
    req.status = Status.PENDING
    req.submitted_at = req.submitted_at or now
    req.pending_since = now
    req.updated_at = now
    req.save(update_fields=["status", "submitted_at", "pending_since", "updated_at"])
    ledger_record(
        actor=actor,
        action="exception.submitted",
        target=req,
        data={
            "digest": req.digest(),
            "version": req.version,
            "tier": req.tier,
            "chain": list(chain_mod.chain_for(req)),
        },
    )
    _ask_approvers(req, why=f"{getattr(actor, 'display_name', actor)} asks for an exception.")


def exception_submit(*, request_id: int, actor, now: datetime | None = None) -> ExceptionRequest:
    """Submit a draft for approval (its requester or a compliance officer)."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        if not can_edit(actor, req) and not (req.status in ExceptionRequest.FINAL or req.status == Status.APPROVED):
            raise PermissionDenied("Only the requester or a compliance officer submits this request.")
        req.ensure_status(Status.DRAFT)
        _submit(req, actor=actor, now=now)
    return req


def exception_update(*, request_id: int, actor, data: ExceptionInput, now: datetime | None = None) -> ExceptionRequest:
    """Edit a draft or pending request. A change makes a new version and voids earlier approvals."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        req.ensure_status(Status.DRAFT, Status.PENDING)
        if not can_edit(actor, req):
            raise PermissionDenied("Only the requester or a compliance officer edits this request.")
        before = req.approvable()
        cleaned = exception_validate(
            actor=actor, data=data, now=now, exclude_pk=req.pk, renewal_of_pk=req.renewal_of_id
        )
        if (cleaned.control.pk, cleaned.system.pk) != (req.control_id, req.system_id):
            raise ValidationError(
                {"control": ["the control and system of a request do not change; make a new request"]}
            )
        _apply(req, cleaned)
        after = req.approvable()
        if after == before:
            return req
        req.ensure_can_move_to(req.status)
        req.version += 1
        req.updated_at = now
        changed = sorted(k for k in after if after[k] != before[k])
        if req.status == Status.PENDING:
            if req.expires_at > max_expiry(req.tier, now=now):
                raise ValidationError({"expires_at": ["longer than the tier allows"]})
            req.pending_since = now
        req.save()
        ledger_record(
            actor=actor,
            action="exception.updated",
            target=req,
            data={"version": req.version, "digest": req.digest(), "changed": changed, **after},
        )
        voided = _void_approvals(req, actor=actor, reason=f"request edited (version {req.version})", now=now)
        if req.status == Status.PENDING:
            why = f"{req.reference} changed ({', '.join(changed)})"
            why += f"; {voided} earlier approval(s) no longer count: please decide again." if voided else "."
            _ask_approvers(req, why=why)
    return req


# ---------------------------------------------------------------- decisions


def _ensure_digest(req: ExceptionRequest, expected: str | None) -> None:
    ensure_digest(current=req.digest(), expected=expected, reference=req.reference, version=req.version)


def exception_approve(
    *,
    request_id: int,
    approver,
    comment: str = "",
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
    slot: str | None = None,
) -> ExceptionRequest:
    """Record one approval; activate the exception when its chain is complete. A refused attempt is a ledger entry."""
    with decision_refusals_recorded(actor=approver, attempt="exception.approve",
                                    target=("exceptions.exceptionrequest", request_id), digest=digest):  # fmt: skip
        return _exception_approve(
            request_id=request_id,
            approver=approver,
            comment=comment,
            reauthenticated_at=reauthenticated_at,
            digest=digest,
            now=now,
            slot=slot,
        )


def _exception_approve(
    *,
    request_id: int,
    approver,
    comment: str = "",
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
    slot: str | None = None,
) -> ExceptionRequest:
    """Record one approval; activate the exception when its chain is complete."""
    now = now or timezone.now()
    activated = False
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(approver, req)
        req.ensure_status(Status.PENDING)
        slot = chain_mod.ensure_can_decide(approver, req, decision=Approval.Decision.APPROVE, slot=slot)
        ensure_recent_reauth(reauthenticated_at, now=now)  # after SoD: no point re-authenticating to be refused
        _ensure_digest(req, digest)
        if req.expires_at <= now:
            raise ValidationError(
                {"expires_at": ["the requested expiry has passed: the request must be updated first"]}
            )
        frozen = current_state(req)
        digest = req.digest()  # what this approval binds to
        try:
            with transaction.atomic():
                approval = Approval.objects.create(
                    request=req,
                    approver=approver,
                    slot=slot,
                    decision=Approval.Decision.APPROVE,
                    request_version=req.version,
                    request_digest=digest,
                    comment=comment.strip(),
                    frozen_state=frozen,
                    reauthenticated_at=reauthenticated_at,
                    at=now,
                )
        except IntegrityError:
            raise PermissionDenied("Separation of duties: that slot or person is already on this request.") from None
        ledger_record(
            actor=approver,
            action="exception.approval_recorded",
            target=req,
            data={
                "approval": approval.pk,
                "slot": slot,
                "decision": "approve",
                "version": req.version,
                "digest": digest,
                "comment": approval.comment,
                "reauthenticated_at": reauthenticated_at,
            },
        )
        if chain_mod.approval_chain_complete(req):
            req.ensure_can_move_to(Status.APPROVED)
            req.status = Status.APPROVED
            req.approved_at = req.decided_at = now
            req.frozen_state, req.frozen_at = frozen, now
            req.review_reason = ""
            req.updated_at = now
            req.save(
                update_fields=[
                    "status",
                    "approved_at",
                    "decided_at",
                    "frozen_state",
                    "frozen_at",
                    "review_reason",
                    "updated_at",
                ]
            )
            ledger_record(
                actor=approver,
                action="exception.approved",
                target=req,
                data={
                    "digest": digest,
                    "version": req.version,
                    "expires_at": req.expires_at,
                    "approvals": [
                        {"id": a.pk, "slot": a.slot, "approver": a.approver_id, "digest": a.request_digest}
                        for a in chain_mod.live_approvals(req)
                    ],
                    "frozen_state": frozen,
                },
            )
            _notify(
                _owners(req, engineers=True),
                req,
                "approved",
                f"Active until the end of {expiry_day(req.expires_at):%Y-%m-%d}. "
                f"{req.control.label} on {req.system.name} counts as excepted.",
            )
            activated = True
        else:
            _notify([req.requested_by], req, f"approved by {approver.display_name}", "More approvals are needed.")
    if activated:
        exception_reevaluate(req)
    return req


def exception_reject(
    *,
    request_id: int,
    approver,
    comment: str,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Reject a pending request, with a reason; someone in its chain decides. A refused attempt is a ledger entry."""
    with decision_refusals_recorded(actor=approver, attempt="exception.reject",
                                    target=("exceptions.exceptionrequest", request_id), digest=digest):  # fmt: skip
        return _exception_reject(
            request_id=request_id,
            approver=approver,
            comment=comment,
            reauthenticated_at=reauthenticated_at,
            digest=digest,
            now=now,
        )


def _exception_reject(
    *,
    request_id: int,
    approver,
    comment: str,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Reject a pending request, with a reason; someone in its chain decides."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(approver, req)
        req.ensure_status(Status.PENDING)
        slot = chain_mod.ensure_can_decide(approver, req, decision=Approval.Decision.REJECT)
        ensure_recent_reauth(reauthenticated_at, now=now)  # after SoD: no point re-authenticating to be refused
        _ensure_digest(req, digest)
        if not comment.strip():
            raise ValidationError({"comment": ["say why the request is rejected"]})
        digest = req.digest()
        approval = Approval.objects.create(
            request=req,
            approver=approver,
            slot=slot,
            decision=Approval.Decision.REJECT,
            request_version=req.version,
            request_digest=digest,
            comment=comment.strip(),
            frozen_state=current_state(req),
            reauthenticated_at=reauthenticated_at,
            at=now,
        )
        req.ensure_can_move_to(Status.REJECTED)
        req.status = Status.REJECTED
        req.decided_at = req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "decided_at", "ended_at", "updated_at"])
        ledger_record(
            actor=approver,
            action="exception.rejected",
            target=req,
            data={
                "approval": approval.pk,
                "slot": slot,
                "version": req.version,
                "digest": digest,
                "comment": approval.comment,
                "reauthenticated_at": reauthenticated_at,
            },
        )
        _notify(_owners(req), req, f"rejected by {approver.display_name}", approval.comment)
    return req


def exception_revoke(*, request_id: int, actor, reason: str, now: datetime | None = None) -> ExceptionRequest:
    """A compliance officer ends an active (or pending) exception early, with a reason."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        req.ensure_status(Status.APPROVED, Status.PENDING)
        if not can_revoke(actor, req):
            raise PermissionDenied("Only compliance officers revoke exceptions.")
        if not reason.strip():
            raise ValidationError({"reason": ["say why the exception is revoked"]})
        was_active = req.status == Status.APPROVED
        req.ensure_can_move_to(Status.REVOKED)
        req.status = Status.REVOKED
        req.revoked_by, req.revoke_reason = actor, reason.strip()
        req.decided_at = req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "revoked_by", "revoke_reason", "decided_at", "ended_at", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.revoked",
            target=req,
            data={"reason": req.revoke_reason, "was": "approved" if was_active else "pending", "digest": req.digest()},
        )
        _notify(_owners(req, engineers=True), req, f"revoked by {actor.display_name}", req.revoke_reason)
    if was_active:
        exception_reevaluate(req)
    return req


def exception_expire(*, request_id: int, now: datetime | None = None, actor="system:exception_expire") -> bool:
    """End an exception whose expiry has come; its results return to failing at once. False if not due."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        if req.status not in (Status.APPROVED, Status.PENDING) or req.expires_at > now:
            return False  # not due, or already ended by someone else: safe to run twice
        was_active = req.status == Status.APPROVED
        req.ensure_can_move_to(Status.EXPIRED)
        req.status = Status.EXPIRED
        req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "ended_at", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.expired",
            target=req,
            data={"expires_at": req.expires_at, "was": "approved" if was_active else "pending", "digest": req.digest()},
        )
        _notify(
            _owners(req, engineers=True),
            req,
            "expired",
            f"{req.control.label} on {req.system.name} is no longer excepted."
            + (" Its results count as failing again." if was_active else " It expired before a decision."),
        )
    if was_active:
        exception_reevaluate(req)
    return True


def exception_expire_due(*, now: datetime | None = None) -> list[int]:
    """Beat, every minute: expire every exception whose time has come; ids expired."""
    now = now or timezone.now()
    due = ExceptionRequest.objects.filter(status__in=[Status.APPROVED, Status.PENDING], expires_at__lte=now)
    done = []
    for pk in due.order_by("expires_at").values_list("pk", flat=True)[:500]:
        if exception_expire(request_id=pk, now=now):
            done.append(pk)
    return done


def exception_renew(
    *,
    request_id: int,
    actor,
    data: ExceptionInput | None = None,
    submit: bool = True,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> ExceptionRequest:
    """A new request linked to an approved (or expired) one; it goes through approval again."""
    now = now or timezone.now()
    with transaction.atomic():
        old = _lock(request_id)
        _ensure_visible(actor, old)
        old.ensure_status(Status.APPROVED, Status.EXPIRED)
        if data is None:
            if expires_at is None:
                raise ValidationError({"expires_at": ["give the renewal's expiry"]})
            data = ExceptionInput(
                control=old.control.control_id,
                system=old.system.slug,
                artifact=old.artifact_id,
                justification=old.justification,
                compensating_controls=old.compensating_controls,
                likelihood=old.likelihood,
                impact=old.impact,
                expires_at=expires_at,
                evidence_ids=list(old.evidence_ids),
            )
        if (data.control, data.system) != (old.control.control_id, old.system.slug):
            raise ValidationError({"control": ["a renewal covers the same control and system"]})
        return exception_request(actor=actor, data=data, submit=submit, renewal_of=old, now=now)


# ---------------------------------------------------------------- material change


def exception_return_to_review(
    *, request_id: int, reasons: list[str], now: datetime | None = None, actor="system:exception_review"
) -> bool:
    """An active exception whose frozen state materially changed goes back to its approvers."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        if req.status != Status.APPROVED:
            return False
        req.ensure_can_move_to(Status.PENDING)
        req.status = Status.PENDING
        req.review_reason = "; ".join(reasons)[:2000]
        req.pending_since = req.updated_at = now
        req.save(update_fields=["status", "review_reason", "pending_since", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.review_required",
            target=req,
            data={"reasons": reasons, "frozen_at": req.frozen_at, "digest": req.digest()},
        )
        _void_approvals(req, actor=actor, reason="the approved state changed materially", now=now)
        _notify(
            _owners(req, engineers=True),
            req,
            "back in review: what was approved has changed",
            "The exception no longer covers its results until it is approved again.\n\n" + "\n".join(reasons),
        )
        _ask_approvers(req, why="What this exception was approved against has changed:\n" + "\n".join(reasons))
    exception_reevaluate(req)
    return True


def exception_check_material_changes(*, now: datetime | None = None) -> list[int]:
    """Beat, every minute: compare each active exception's frozen state with the current one.

    Only exceptions whose covered results changed since approval (ControlResult.evaluated_at
    moves only on a change) or whose system changed are compared; ids sent back to review."""
    now = now or timezone.now()
    sent = []
    active = ExceptionRequest.objects.filter(status=Status.APPROVED, frozen_at__isnull=False).select_related(
        "control", "system", "artifact"
    )
    for req in active.iterator(chunk_size=200):
        touched = covered_results(req).filter(evaluated_at__gt=req.frozen_at).exists()
        if not touched and req.system.risk_tier == req.frozen_state.get("system_risk_tier"):
            continue
        reasons = material_changes(req.frozen_state, current_state(req))
        if reasons and exception_return_to_review(request_id=req.pk, reasons=reasons, now=now):
            sent.append(req.pk)
    return sent


# ---------------------------------------------------------------- reminders


def _remind_once(req: ExceptionRequest, *, kind: str, key: str, people, title: str, body: str, now: datetime) -> bool:
    """Send one reminder unless its key was sent already (the unique constraint decides)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                ExceptionReminder.objects.create(request=req, kind=kind, key=key, recipients=len(people), sent_at=now)
        except IntegrityError:
            return False
        _notify(people, req, title, body)
        ledger_record(
            actor="system:exception_reminders",
            action="exception.reminder_sent",
            target=req,
            data={"key": key, "recipients": sorted(p.pk for p in people)},
        )
    return True


def exception_reminders_send(*, now: datetime | None = None) -> int:
    """Beat: remind requester and owners before expiry, and approvers of requests waiting too long.

    Each lead time (PORTAL_EXCEPTION_REMINDER_DAYS) reminds once per exception; when several
    are due at once (a short exception), only the nearest is sent and the others are marked.
    Waiting requests remind their approvers once per PORTAL_EXCEPTION_WAITING_REMINDER_HOURS."""
    now = now or timezone.now()
    sent = 0
    leads = sorted(set(settings.PORTAL_EXCEPTION_REMINDER_DAYS), reverse=True)
    if leads:
        horizon = now + timedelta(days=max(leads))
        active = ExceptionRequest.objects.filter(
            status=Status.APPROVED, expires_at__gt=now, expires_at__lte=horizon
        ).select_related("control", "system", "requested_by")
        for req in active:
            due = [d for d in leads if req.expires_at - now <= timedelta(days=d)]
            done = set(req.reminders.filter(kind=ExceptionReminder.Kind.EXPIRY).values_list("key", flat=True))
            pending_keys = [f"expiry:{d}d" for d in due if f"expiry:{d}d" not in done]
            if not pending_keys:
                continue
            nearest = min(due)
            left = req.expires_at - now
            when = days_left_phrase(left)
            # Owners and engineers renew or fix; compliance officers watch what is about to fail again.
            people = list({u.pk: u for u in [*_owners(req, engineers=True), *chain_mod.slot_candidates(
                Slot.COMPLIANCE_OFFICER, req.system)]}.values())  # fmt: skip
            ok = _remind_once(
                req,
                kind=ExceptionReminder.Kind.EXPIRY,
                key=f"expiry:{nearest}d",
                people=people,
                title=f"expires {when} ({expiry_day(req.expires_at):%Y-%m-%d})",
                body=f"{req.control.label} on {req.system.name} returns to failing when it expires. "
                "Renew it or fix the control.",
                now=now,
            )
            sent += ok
            for key in pending_keys:  # farther lead times now moot: mark, do not send
                if key != f"expiry:{nearest}d":
                    ExceptionReminder.objects.get_or_create(
                        request=req, key=key, defaults={"kind": ExceptionReminder.Kind.EXPIRY, "sent_at": now}
                    )
    hours = settings.PORTAL_EXCEPTION_WAITING_REMINDER_HOURS
    if hours:
        interval = timedelta(hours=hours)
        waiting = ExceptionRequest.objects.filter(
            status=Status.PENDING, pending_since__lte=now - interval
        ).select_related("control", "system", "requested_by")
        for req in waiting:
            periods = int((now - req.pending_since) / interval)
            people = _approvers_to_ask(req)
            if not people:
                continue
            sent += _remind_once(
                req,
                kind=ExceptionReminder.Kind.WAITING,
                key=f"waiting:v{req.version}:{req.pending_since:%Y%m%d%H%M%S}:{periods}",
                people=people,
                title=f"waiting for your decision for {int((now - req.pending_since).total_seconds() // 3600)} hours",
                body=f"{req.control.label} on {req.system.name}, {req.get_tier_display()} tier, requested by "
                f"{req.requested_by.display_name}.",
                now=now,
            )
    return sent


# ---------------------------------------------------------------- metrics


def exception_metrics_snapshot(*, now: datetime | None = None) -> int:
    """Beat: today's exception metrics per system (upsert): by tier, by age, approval latency."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    rows = {}
    for system_id in System.objects.values_list("pk", flat=True):
        rows[system_id] = ExceptionMetricSnapshot(day=day, system_id=system_id, computed_at=now)
    latencies: dict[int, list[float]] = {}
    recent = now - timedelta(days=30)
    for sid, status, tier, approved_at, submitted_at, decided_at, expires_at in ExceptionRequest.objects.values_list(
        "system_id", "status", "tier", "approved_at", "submitted_at", "decided_at", "expires_at"
    ):
        row = rows.get(sid)
        if row is None:
            continue
        if status == Status.PENDING:
            row.pending += 1
        elif status == Status.APPROVED:
            setattr(row, f"active_{tier}", getattr(row, f"active_{tier}") + 1)
            age = (now - approved_at).days
            if age <= 30:
                row.active_age_0_30 += 1
            elif age <= 90:
                row.active_age_31_90 += 1
            else:
                row.active_age_91_plus += 1
            if expires_at <= now + timedelta(days=14):
                row.expiring_14d += 1
        if decided_at and submitted_at and decided_at >= recent and status != Status.REVOKED:
            row.decided_30d += 1
            latencies.setdefault(sid, []).append((decided_at - submitted_at).total_seconds() / 3600)
    for sid, values in latencies.items():
        values.sort()
        mid = len(values) // 2
        rows[sid].latency_median_hours = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        rows[sid].latency_max_hours = values[-1]
    fields = [f.name for f in ExceptionMetricSnapshot._meta.concrete_fields if f.name not in ("id", "day", "system")]
    with transaction.atomic():
        ExceptionMetricSnapshot.objects.bulk_create(
            list(rows.values()), update_conflicts=True, unique_fields=["day", "system"], update_fields=fields
        )
    return len(rows)


# ---------------------------------------------------------------- designated executives


@transaction.atomic
def exception_executive_set(*, user, designated: bool, actor) -> None:
    """Designate (or stop designating) a user as executive approver of critical-tier exceptions."""
    from django.contrib.auth.models import Group

    group, _ = Group.objects.get_or_create(name=chain_mod.EXECUTIVE_GROUP)
    was = user.groups.filter(pk=group.pk).exists()
    if was == designated:
        return
    (user.groups.add if designated else user.groups.remove)(group)
    user.__dict__.pop("_exception_exec", None)
    ledger_record(
        actor=actor,
        action="exception.executive_designated" if designated else "exception.executive_removed",
        target=user,
        data={"username": user.username},
    )


__all__ = [
    "ExceptionInput",
    "Tier",
    "exception_approve",
    "exception_check_material_changes",
    "exception_executive_set",
    "exception_expire",
    "exception_expire_due",
    "exception_metrics_snapshot",
    "exception_reevaluate",
    "exception_reject",
    "exception_reminders_send",
    "exception_renew",
    "exception_request",
    "exception_return_to_review",
    "exception_revoke",
    "exception_submit",
    "exception_update",
    "exception_validate",
]
