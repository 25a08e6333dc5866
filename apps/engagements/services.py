"""Writes of audit engagements: open and end them, log auditor access, PBC requests, reviews, samples.

Each transition locks its row, checks the move (against the model's TRANSITIONS) and the
actor, writes, records the ledger entry in the same transaction and notifies after commit.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.notifications import notification_send
from apps.accounts.roles import Role
from apps.accounts.scoping import auditor_grants, is_scoped_auditor
from apps.common.states import InvalidTransition
from apps.engagements.models import (
    Engagement,
    EvidenceRequest,
    EvidenceRequestItem,
    EvidenceRequestReminder,
    EvidenceReview,
    Sample,
    SampleItem,
)
from apps.engagements.populations import POPULATIONS, population_digest, population_item_attributes
from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import portal_upload_source, receipt_accept
from apps.inventory.models import System
from apps.ledger.services import latest_checkpoint, ledger_record
from apps.policy.models import Control

ACCESS_ACTIONS = ("auditor.page_viewed", "auditor.downloaded")
PORTAL_UPLOAD_SOURCE = "Portal uploads (evidence requests)"
MAX_SAMPLE_SIZE = 500


# ---------------------------------------------------------------- who may do what


def can_manage_engagements(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER)
    )


def ensure_can_manage_engagements(actor) -> None:
    if not can_manage_engagements(actor):
        raise PermissionDenied("Only compliance officers and platform admins open and end engagements.")


def _audits(actor, engagement: Engagement) -> bool:
    return actor.has_role(Role.AUDITOR) and engagement.auditors.filter(pk=actor.pk).exists()


def is_working_auditor(actor, engagement: Engagement) -> bool:
    """The actor is an auditor of this engagement and its access window is open now (pages ask this)."""
    return engagement.is_open and _audits(actor, engagement)


def ensure_working_auditor(actor, engagement: Engagement) -> None:
    """The actor is an auditor of this engagement and its access window is open now; PermissionDenied saying why."""
    if not engagement.is_open:
        raise PermissionDenied("This engagement is not open: its access window is closed.")
    if not _audits(actor, engagement):
        raise PermissionDenied("Only the engagement's auditors do this.")


def can_answer_request(user, req: EvidenceRequest) -> bool:
    """The assignee, the system's owners, compliance officers and admins answer; auditors never do."""
    return can_answer_for_system(user, req.system, assignee_id=req.assignee_id)


def can_answer_for_system(user, system: System, *, assignee_id: int | None = None) -> bool:
    """Who answers an auditor about a system (a request, a flag): its owners, the assignee if any, compliance
    officers and admins; auditors never do."""
    if not getattr(user, "is_authenticated", False) or is_scoped_auditor(user):
        return False
    if user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER) or user.pk == assignee_id:
        return True
    return system.engineering_owners.filter(pk=user.pk).exists() or system.risk_owners.filter(pk=user.pk).exists()


def check_evidence_in_engagement(engagement: Engagement, evidence: Evidence, system_ids: set[int]) -> None:
    if evidence.system_id not in system_ids or not (
        engagement.observation_start <= evidence.effective_at < engagement.observation_end
    ):
        raise ValidationError(
            f"evidence {evidence.pk} is not of this engagement's systems and observation window "
            f"({engagement.observation_start:%Y-%m-%d} to {engagement.observation_end:%Y-%m-%d})"
        )


# ---------------------------------------------------------------- engagements


@transaction.atomic
def engagement_open(
    *,
    actor: User,
    name: str,
    auditors: Iterable[User],
    systems: Iterable[System],
    observation_start: datetime,
    observation_end: datetime,
    access_start: datetime,
    access_end: datetime,
    frameworks: Iterable[str] = (),
    description: str = "",
) -> Engagement:
    """Open an engagement: its auditors see its systems' evidence of the observation window during the access window."""
    ensure_can_manage_engagements(actor)
    auditors, systems = list(auditors), list(systems)
    if not auditors:
        raise ValidationError("name at least one auditor")
    if not systems:
        raise ValidationError("name at least one system in scope")
    not_auditors = [u.username for u in auditors if not u.has_role(Role.AUDITOR)]
    if not_auditors:
        raise ValidationError(
            f"only users with the auditor role can be an engagement's auditors: {', '.join(not_auditors)}"
        )
    engagement = Engagement(
        name=name.strip(),
        description=description,
        frameworks=list(dict.fromkeys(frameworks)),
        observation_start=observation_start,
        observation_end=observation_end,
        access_start=access_start,
        access_end=access_end,
        opened_by=actor,
        opened_at=timezone.now(),
        opening_checkpoint_size=getattr(latest_checkpoint(), "size", None),
    )
    engagement.full_clean(exclude=["opened_by"])
    engagement.save()
    engagement.auditors.set(auditors)
    engagement.systems.set(systems)
    ledger_record(
        actor=actor,
        action="engagement.opened",
        target=engagement,
        data={
            "name": engagement.name,
            "auditors": sorted(u.username for u in auditors),
            "systems": sorted(s.slug for s in systems),
            "frameworks": engagement.frameworks,
            "observation": [observation_start, observation_end],
            "access": [access_start, access_end],
            "opening_checkpoint": engagement.opening_checkpoint_size,
        },
    )
    notification_send(
        recipients=auditors,
        title=f"You are an auditor of {engagement.name}",
        body=f"Access from {access_start:%Y-%m-%d %H:%M} to {access_end:%Y-%m-%d %H:%M} UTC.",
        url=engagement.get_absolute_url(),
    )
    return engagement


def _record_ended(engagement: Engagement, *, actor, reason: str, now: datetime) -> bool:
    claimed = Engagement.objects.filter(pk=engagement.pk, ended_recorded_at__isnull=True).update(ended_recorded_at=now)
    if claimed:
        ledger_record(
            actor=actor,
            action="engagement.ended",
            target=engagement,
            data={"reason": reason, "access_end": engagement.access_end},
        )
    return bool(claimed)


@transaction.atomic
def engagement_end(*, actor: User, engagement_id: int) -> Engagement:
    """End an engagement now (before its access window would close): its auditors lose access at once."""
    ensure_can_manage_engagements(actor)
    engagement = Engagement.objects.select_for_update().get(pk=engagement_id)
    now = timezone.now()
    if engagement.ended_recorded_at is not None or engagement.access_end <= now:
        raise InvalidTransition("this engagement has already ended")
    if engagement.access_start >= now:  # ended before it began: a window that is already over
        engagement.access_start = now - timedelta(microseconds=1)
    engagement.access_end = now
    engagement.save(update_fields=["access_start", "access_end"])
    _record_ended(engagement, actor=actor, reason="ended early", now=now)
    return engagement


def engagement_end_due(*, now: datetime | None = None) -> int:
    """Record `engagement.ended` for every engagement whose access window has closed (beat). Safe to run twice."""
    now = now or timezone.now()
    ended = 0
    due = Engagement.objects.filter(access_end__lte=now, ended_recorded_at__isnull=True).order_by("id")[:1000]
    for engagement in due:
        with transaction.atomic():
            ended += _record_ended(
                engagement, actor="system:engagement_end_due", reason="access window closed", now=now
            )
    return ended


def engagement_access_record(*, user: User, action: str, method: str, path: str, status: int, data: dict | None = None):
    """Record an auditor's page view or download in the ledger, once per open engagement (the access log)."""
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"unknown access action {action!r}")
    grants = auditor_grants(user)
    entry = {"method": method, "path": path[:500], "status": status, **(data or {})}
    with transaction.atomic():
        if not grants:  # no open engagement: still recorded, against the person
            ledger_record(actor=user, action=action, target=user, data={**entry, "engagement": None})
        for grant in grants:
            ledger_record(
                actor=user,
                action=action,
                target=("engagements.engagement", grant.engagement_id),
                data={**entry, "engagement": grant.engagement_id},
            )


# ---------------------------------------------------------------- evidence requests (PBC list)


def engagement_controls(engagement: Engagement):
    """The controls a request of this engagement may name: those of its frameworks, in catalogue order."""

    return (
        Control.objects.filter(framework__code__in=engagement.framework_codes())
        .select_related("framework")
        .order_by("framework__code", "order")
    )


def control_reference(control) -> str:
    """How a request shows its control: "<framework code> <label>", e.g. "soc2 CC8.1"."""
    return f"{control.framework.code} {control.label}"[:120]


def _request_locked(request_id: int) -> EvidenceRequest:
    return EvidenceRequest.objects.select_for_update().select_related("engagement", "system").get(pk=request_id)


@transaction.atomic
def evidence_request_create(
    *,
    actor: User,
    engagement_id: int,
    system_id: int,
    title: str,
    due_date: date,
    assignee: User,
    control_id: str = "",
    control_ref: str = "",
    description: str = "",
) -> EvidenceRequest:
    """An auditor asks the system's side for evidence on a control, by a due date.

    `control_id` (the OSCAL id, e.g. "soc2-cc8-1") names a control of one of the engagement's
    frameworks; `control_ref` is then filled from it. Without one, `control_ref` (free text) is required."""
    engagement = Engagement.objects.get(pk=engagement_id)
    ensure_working_auditor(actor, engagement)
    if not engagement.systems.filter(pk=system_id).exists():
        raise ValidationError("that system is not in this engagement's scope")
    control = None
    if control_id:
        # a control id, or "<framework code>:<id>" when two of the frameworks share the id
        matches = list(engagement_controls(engagement).for_ref(str(control_id))[:2])
        control = matches[0] if len(matches) == 1 else None
        if len(matches) > 1:
            raise ValidationError(
                f"control id {str(control_id)[:100]!r} is in several of this engagement's frameworks; "
                "name one as <framework code>:<id>"
            )
        if control is None:
            raise ValidationError(
                f"control {str(control_id)[:100]!r} is not a control of this engagement's frameworks "
                f"({', '.join(engagement.framework_codes()) or 'none'})"
            )
        control_ref = control_reference(control)
    if not control_ref.strip():
        raise ValidationError("name the control: choose one of the engagement's frameworks, or give a reference")
    if is_scoped_auditor(assignee) or not assignee.is_active or not assignee.roles:
        raise ValidationError("the assignee must be someone on the system's side (not an auditor)")
    now = timezone.now()
    req = EvidenceRequest(
        engagement=engagement,
        system_id=system_id,
        control=control,
        control_ref=control_ref.strip(),
        title=title.strip(),
        description=description,
        due_date=due_date,
        requested_by=actor,
        assignee=assignee,
        status=EvidenceRequest.Status.OPEN,
        status_since=now,
        created_at=now,
    )
    req.full_clean(exclude=["engagement", "requested_by", "assignee", "system"])
    req.save()
    ledger_record(
        actor=actor,
        action="evidence_request.created",
        target=req,
        data={
            "engagement": engagement.pk,
            "system": req.system.slug,
            "control": req.control_ref,
            "control_id": control.control_id if control else None,
            "title": req.title,
            "due": due_date,
            "assignee": assignee.username,
        },
    )
    notification_send(
        recipients=[assignee],
        title=f"Evidence requested: {req.control_ref} — {req.title}",
        body=f"{actor.display_name} asks for evidence for {req.system.name}, due {due_date:%Y-%m-%d}.",
        url=req.get_absolute_url(),
    )
    return req


def _portal_upload_source():

    return portal_upload_source(name=PORTAL_UPLOAD_SOURCE, actor="system:evidence_request_answer")


def answer_upload_accept(
    *, engagement: Engagement, system: System, upload: dict, headers: dict, actor: User
) -> Receipt:
    """A file uploaded to answer an auditor, accepted through the ingest service for `system`.

    `upload`: {"body": bytes, "filename": str, "content_type": str, "effective_at": datetime, "subject": str};
    its effective time must lie within the engagement's observation window."""
    effective_at = upload.get("effective_at")
    if effective_at is None or not (engagement.observation_start <= effective_at < engagement.observation_end):
        raise ValidationError("an uploaded answer needs an effective time within the observation window")
    receipt, _ = receipt_accept(
        source=_portal_upload_source(),
        channel=Receipt.Channel.UPLOAD,
        body=upload["body"],
        content_type=(upload.get("content_type") or "")[:200],
        filename=(upload.get("filename") or "")[:255],
        subject=upload.get("subject") or "",
        system=system,
        effective_at=effective_at,
        headers={**headers, "uploaded_by": actor.username},
    )
    return receipt


@transaction.atomic
def evidence_request_answer(
    *,
    actor: User,
    request_id: int,
    evidence_ids: Iterable[int] = (),
    upload: dict | None = None,
    note: str = "",
) -> EvidenceRequest:
    """Answer a request by linking existing evidence and/or uploading a file (through the ingest service).

    `upload`: {"body": bytes, "filename": str, "content_type": str, "effective_at": datetime, "subject": str}.
    """

    req = _request_locked(request_id)
    if not can_answer_request(actor, req):
        raise PermissionDenied("Only the assignee, the system's owners or a compliance officer answer this request.")
    req.ensure_can_move_to(EvidenceRequest.Status.ANSWERED)
    engagement = req.engagement
    evidence_ids = list(dict.fromkeys(int(pk) for pk in evidence_ids))
    if not evidence_ids and not upload:
        raise ValidationError("link at least one piece of evidence or upload a file")
    now = timezone.now()
    items, receipt_id = [], None
    for evidence in Evidence.objects.filter(pk__in=evidence_ids).only("id", "system_id", "effective_at"):
        check_evidence_in_engagement(engagement, evidence, {req.system_id})
        items.append(EvidenceRequestItem(request=req, evidence=evidence, added_by=actor, added_at=now))
    if len(items) != len(evidence_ids):
        raise ValidationError("some of the evidence named does not exist")
    if upload:
        receipt = answer_upload_accept(
            engagement=engagement, system=req.system, upload=upload, headers={"evidence_request": req.pk},
            actor=actor,
        )
        receipt_id = receipt.pk
        items.append(EvidenceRequestItem(request=req, receipt=receipt, added_by=actor, added_at=now))
    EvidenceRequestItem.objects.bulk_create(items)
    req.status, req.status_since = EvidenceRequest.Status.ANSWERED, now
    if note:
        req.answer_note = note
    req.save(update_fields=["status", "status_since", "answer_note"])
    ledger_record(
        actor=actor,
        action="evidence_request.answered",
        target=req,
        data={"evidence": [str(pk) for pk in evidence_ids], "receipt": receipt_id, "note": note[:2000]},
    )
    notification_send(
        recipients=[req.requested_by],
        title=f"Evidence request answered: {req.control_ref} — {req.title}",
        body=f"{actor.display_name} answered. {note}".strip(),
        url=req.get_absolute_url(),
    )
    return req


def _auditor_move(*, actor: User, request_id: int, to: str, action: str, reason: str = "") -> EvidenceRequest:
    req = _request_locked(request_id)
    ensure_working_auditor(actor, req.engagement)
    req.ensure_can_move_to(to)
    before = req.status
    req.status, req.status_since = to, timezone.now()
    req.save(update_fields=["status", "status_since"])
    ledger_record(actor=actor, action=action, target=req, data={"from": before, "reason": reason[:2000]})
    notification_send(
        recipients=[req.assignee],
        title=f"Evidence request {req.get_status_display().lower()}: {req.control_ref} — {req.title}",
        body=reason,
        url=req.get_absolute_url(),
    )
    return req


@transaction.atomic
def evidence_request_accept(*, actor: User, request_id: int) -> EvidenceRequest:
    """The auditor accepts the answer."""
    return _auditor_move(
        actor=actor, request_id=request_id, to=EvidenceRequest.Status.ACCEPTED, action="evidence_request.accepted"
    )


@transaction.atomic
def evidence_request_reopen(*, actor: User, request_id: int, reason: str) -> EvidenceRequest:
    """The auditor sends the request back, saying why."""
    if not reason.strip():
        raise ValidationError("say why the request is reopened")
    return _auditor_move(
        actor=actor,
        request_id=request_id,
        to=EvidenceRequest.Status.REOPENED,
        action="evidence_request.reopened",
        reason=reason,
    )


def evidence_request_remind_overdue(*, now: datetime | None = None, limit: int = 2000) -> int:
    """Remind the assignee and the requesting auditor of every overdue request, once per request per day (beat).

    Only requests of engagements open now (after the access window nobody can act on them). The
    reminder row, unique per (request, day), is claimed first; its notifications and ledger entry
    commit with it, so a second run the same day, or a concurrent one, sends nothing more."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = (
        EvidenceRequest.objects.filter(
            status__in=EvidenceRequest.WAITING_FOR_ANSWER,
            due_date__lt=today,
            engagement__access_start__lte=now,
            engagement__access_end__gt=now,
        )
        .exclude(reminders__day=today)
        .select_related("engagement", "system", "assignee", "requested_by")
        .order_by("due_date", "id")[:limit]
    )
    sent = 0
    for req in due:
        with transaction.atomic():
            reminder, created = EvidenceRequestReminder.objects.get_or_create(
                request=req, day=today, defaults={"sent_at": now}
            )
            if not created:  # another run got there first
                continue
            recipients = [req.assignee]
            if req.engagement.auditors.filter(pk=req.requested_by_id).exists():
                recipients.append(req.requested_by)
            days = (today - req.due_date).days
            notified = notification_send(
                recipients=recipients,
                title=f"Overdue evidence request: {req.control_ref} — {req.title}"[:300],
                body=(
                    f"Due {req.due_date:%Y-%m-%d} ({days} day{'s' if days != 1 else ''} ago) for {req.system.name}, "
                    f"engagement {req.engagement.name}; assigned to {req.assignee.display_name}."
                ),
                url=req.get_absolute_url(),
            )
            reminder.recipients = sorted(n.recipient.username for n in notified)
            reminder.save(update_fields=["recipients"])
            ledger_record(
                actor="system:evidence_request_remind_overdue",
                action="evidence_request.reminded",
                target=req,
                data={"day": today, "due": req.due_date, "days_overdue": days, "recipients": reminder.recipients},
            )
            sent += 1
    return sent


# ---------------------------------------------------------------- reviews


def review_set(*, actor: User, engagement: Engagement, evidence: Evidence, mark: str, comment: str) -> EvidenceReview:
    """Write the engagement's mark on checked evidence and its ledger entry (inside the caller's transaction)."""
    review, _ = EvidenceReview.objects.select_for_update().update_or_create(
        engagement=engagement,
        evidence=evidence,
        defaults={"mark": mark, "comment": comment.strip(), "reviewer": actor, "reviewed_at": timezone.now()},
    )
    ledger_record(
        actor=actor,
        action="evidence.reviewed",
        target=evidence,
        data={"engagement": engagement.pk, "mark": mark, "comment": comment.strip()[:2000]},
    )
    return review


@transaction.atomic
def evidence_review_mark(
    *, actor: User, engagement_id: int, evidence_id: int, mark: str, comment: str = ""
) -> EvidenceReview:
    """An auditor marks evidence accepted, flagged (with a comment the owners see) or not applicable."""
    engagement = Engagement.objects.get(pk=engagement_id)
    ensure_working_auditor(actor, engagement)
    if mark not in EvidenceReview.Mark.values:
        raise ValidationError(f"unknown mark {mark!r}; use {', '.join(EvidenceReview.Mark.values)}")
    if mark == EvidenceReview.Mark.FLAGGED and not comment.strip():
        raise ValidationError("a flag needs a comment that tells the owner what is wrong")
    evidence = Evidence.objects.select_related("system").get(pk=evidence_id)
    check_evidence_in_engagement(engagement, evidence, set(engagement.systems.values_list("pk", flat=True)))
    review = review_set(actor=actor, engagement=engagement, evidence=evidence, mark=mark, comment=comment)
    if mark == EvidenceReview.Mark.FLAGGED and evidence.system is not None:
        owners = list(evidence.system.engineering_owners.all()) + list(evidence.system.risk_owners.all())
        notification_send(
            recipients=owners,
            title=f"Auditor flagged evidence: {evidence.title[:200]}",
            body=comment.strip(),
            url=evidence.get_absolute_url(),
        )
    return review


# ---------------------------------------------------------------- sampling


def sample_pick(population_size: int, size: int, seed: str) -> list[int]:
    """Positions drawn from range(population_size) with this seed: the same seed gives the same draw."""
    return random.Random(f"portal-sample-v1:{seed}").sample(range(population_size), size)  # noqa: S311 - reproducible, not secret


@transaction.atomic
def sample_draw(*, actor: User, engagement_id: int, population: str, size: int, seed: str = "") -> Sample:
    """Draw a reproducible random sample of a population; the seed and the population's digest are recorded."""
    engagement = Engagement.objects.get(pk=engagement_id)
    ensure_working_auditor(actor, engagement)
    if population not in POPULATIONS:
        raise ValidationError(f"unknown population {population!r}; use one of {', '.join(POPULATIONS)}")
    items = POPULATIONS[population].select(engagement)
    if not items:
        raise ValidationError("this population is empty: there is nothing to sample")
    if not 1 <= size <= min(len(items), MAX_SAMPLE_SIZE):
        raise ValidationError(f"the sample size must be between 1 and {min(len(items), MAX_SAMPLE_SIZE)}")
    seed = (seed or secrets.token_hex(16)).strip()[:64]
    sample = Sample.objects.create(
        engagement=engagement,
        population=population,
        population_size=len(items),
        population_digest=population_digest(items),
        size=size,
        seed=seed,
        drawn_by=actor,
        drawn_at=timezone.now(),
    )
    picked = sample_pick(len(items), size, seed)
    # What the population attaches to each drawn item (a change's evidence and results), as drawn.
    attributes = population_item_attributes(population, engagement, [items[i] for i in picked])
    SampleItem.objects.bulk_create(
        [
            SampleItem(
                sample=sample,
                position=n,
                object_type=items[i].object_type,
                object_id=items[i].object_id,
                label=items[i].label[:500],
                attributes=attributes[n - 1],
            )
            for n, i in enumerate(picked, start=1)
        ]
    )
    ledger_record(
        actor=actor,
        action="sample.drawn",
        target=sample,
        data={
            "engagement": engagement.pk,
            "population": population,
            "population_size": len(items),
            "population_digest": sample.population_digest,
            "size": size,
            "seed": seed,
            "items": [items[i].key for i in picked],
        },
    )
    return sample


@transaction.atomic
def sample_item_test(*, actor: User, item_id: int, result: str, note: str = "") -> SampleItem:
    """Record the result of testing one sampled item."""
    item = SampleItem.objects.select_for_update().select_related("sample__engagement").get(pk=item_id)
    ensure_working_auditor(actor, item.sample.engagement)
    if result not in SampleItem.Result.values or result == SampleItem.Result.UNTESTED:
        raise ValidationError("the result must be passed, failed or not applicable")
    if result == SampleItem.Result.FAILED and not note.strip():
        raise ValidationError("say what failed")
    item.result, item.note, item.tested_by, item.tested_at = result, note.strip(), actor, timezone.now()
    item.save(update_fields=["result", "note", "tested_by", "tested_at"])
    ledger_record(
        actor=actor,
        action="sample.item_tested",
        target=item.sample,
        data={
            "position": item.position,
            "item": f"{item.object_type}:{item.object_id}",
            "result": result,
            "note": item.note[:2000],
        },
    )
    return item
