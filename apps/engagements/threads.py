"""Writes of flag threads: an auditor flags evidence of a control, the system's owners answer, the auditor re-reviews.

One service per message. Each locks the thread, checks the move (FlagThread.TRANSITIONS) and the
actor on the server, writes the message, records its ledger entry in the same transaction (the
ledger holds every message, word for word) and tells the other side (notifications e-mail after commit).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.notifications import notification_send
from apps.engagements.models import Engagement, EvidenceReview, FlagMessage, FlagThread
from apps.engagements.services import (
    answer_upload_accept,
    can_answer_for_system,
    check_evidence_in_engagement,
    ensure_working_auditor,
    review_set,
)
from apps.engagements.workspace import control_evidence_ids, workspace_control_get
from apps.evidence.models import Evidence
from apps.ledger.services import ledger_record

MAX_MESSAGE = 4000


def can_answer_flag(user, thread: FlagThread) -> bool:
    """Whoever may answer the auditor's requests about the system answers its flags (never an auditor)."""
    return can_answer_for_system(user, thread.system)


def _owners(thread: FlagThread) -> list[User]:
    system = thread.system
    return list(system.engineering_owners.all()) + list(system.risk_owners.all())


def _body(text: str, *, required: str = "") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError(required)
    if len(text) > MAX_MESSAGE:
        raise ValidationError(f"a message is at most {MAX_MESSAGE} characters")
    return text


def _locked(flag_id: int) -> FlagThread:
    return (
        FlagThread.objects.select_for_update(of=("self",))
        .select_related("engagement", "control__framework", "evidence", "system", "opened_by")
        .get(pk=flag_id)
    )


def _post(thread: FlagThread, *, kind: str, actor: User, body: str, action: str, **extra) -> FlagMessage:
    """Write one message and its ledger entry (the caller holds the transaction and the lock)."""
    message = FlagMessage.objects.create(thread=thread, kind=kind, author=actor, body=body, at=timezone.now(), **extra)
    ledger_record(
        actor=actor,
        action=action,
        target=thread,
        data={
            "engagement": thread.engagement_id,
            "control": thread.control.ref,
            "evidence": thread.evidence_id,
            "message": message.pk,
            "kind": kind,
            "body": body,
            "linked_evidence": [str(pk) for pk in message.evidence],
            "receipt": message.receipt_id,
            "status": thread.status,
        },
    )
    return message


def _move(thread: FlagThread, to: str) -> None:
    thread.ensure_can_move_to(to)
    thread.status, thread.status_since = to, timezone.now()
    thread.save(update_fields=["status", "status_since"])


@transaction.atomic
def flag_raise(*, actor: User, engagement_id: int, control_ref: str, evidence_id: int, comment: str) -> FlagThread:
    """An auditor flags one piece of a control's evidence, saying what is wrong: a thread opens for its owners."""
    engagement = Engagement.objects.get(pk=engagement_id)
    ensure_working_auditor(actor, engagement)
    body = _body(comment, required="a flag needs a comment that tells the owner what is wrong")
    control = workspace_control_get(engagement=engagement, ref=control_ref)
    evidence = Evidence.objects.select_related("system").filter(pk=evidence_id).first()
    if evidence is None or evidence.pk not in control_evidence_ids(engagement=engagement, control=control):
        raise ValidationError(f"evidence {evidence_id} is not evidence of {control.ref} in this engagement")
    check_evidence_in_engagement(engagement, evidence, set(engagement.systems.values_list("pk", flat=True)))
    if FlagThread.objects.filter(
        engagement=engagement, control=control, evidence=evidence, status__in=FlagThread.UNSETTLED
    ).exists():
        raise ValidationError("this evidence is already flagged for this control: write in its thread")
    now = timezone.now()
    thread = FlagThread.objects.create(
        engagement=engagement,
        control=control,
        evidence=evidence,
        system=evidence.system,
        status=FlagThread.Status.OPEN,
        status_since=now,
        opened_by=actor,
        opened_at=now,
    )
    _post(thread, kind=FlagMessage.Kind.FLAGGED, actor=actor, body=body, action="flag.raised")
    review_set(actor=actor, engagement=engagement, evidence=evidence, mark=EvidenceReview.Mark.FLAGGED, comment=body)
    notification_send(
        recipients=_owners(thread),
        title=f"Auditor flagged evidence for {control.framework.code} {control.label}: {evidence.title[:150]}",
        body=body,
        url=thread.get_absolute_url(),
    )
    return thread


@transaction.atomic
def flag_answer(
    *,
    actor: User,
    flag_id: int,
    body: str = "",
    evidence_ids: Iterable[int] = (),
    upload: dict | None = None,
) -> FlagThread:
    """The system's side answers a flag: a note, evidence of the engagement, and/or a file (through ingest).

    `upload` as for `answer_upload_accept`."""
    thread = _locked(flag_id)
    if not can_answer_flag(actor, thread):
        raise PermissionDenied("Only the system's owners or a compliance officer answer this flag.")
    thread.ensure_can_move_to(FlagThread.Status.ANSWERED)
    body = _body(body)
    engagement = thread.engagement
    evidence_ids = list(dict.fromkeys(int(pk) for pk in evidence_ids))
    if not (body or evidence_ids or upload):
        raise ValidationError("write an answer, link evidence or upload a file")
    found = list(Evidence.objects.filter(pk__in=evidence_ids).only("id", "system_id", "effective_at"))
    if len(found) != len(evidence_ids):
        raise ValidationError("some of the evidence named does not exist")
    for evidence in found:
        check_evidence_in_engagement(engagement, evidence, {thread.system_id})
    receipt = None
    if upload:
        receipt = answer_upload_accept(
            engagement=engagement,
            system=thread.system,
            upload=upload,
            headers={"engagement_flag": thread.pk},
            actor=actor,
        )
    _move(thread, FlagThread.Status.ANSWERED)
    _post(thread, kind=FlagMessage.Kind.ANSWERED, actor=actor, body=body, action="flag.answered",
          evidence=evidence_ids, receipt=receipt)  # fmt: skip
    notification_send(
        recipients=[thread.opened_by],
        title=f"Flag answered: {thread.control.framework.code} {thread.control.label}, {thread.evidence.title[:150]}",
        body=f"{actor.display_name}: {body}".strip(),
        url=thread.get_absolute_url(),
    )
    return thread


@transaction.atomic
def flag_reopen(*, actor: User, flag_id: int, body: str) -> FlagThread:
    """The auditor re-reviews an answer and sends it back, saying what is still missing."""
    thread = _locked(flag_id)
    ensure_working_auditor(actor, thread.engagement)
    body = _body(body, required="say what is still missing")
    _move(thread, FlagThread.Status.OPEN)
    _post(thread, kind=FlagMessage.Kind.REOPENED, actor=actor, body=body, action="flag.reopened")
    notification_send(
        recipients=_owners(thread),
        title=f"Flag sent back: {thread.control.framework.code} {thread.control.label}, {thread.evidence.title[:150]}",
        body=body,
        url=thread.get_absolute_url(),
    )
    return thread


@transaction.atomic
def flag_accept(*, actor: User, flag_id: int, body: str = "") -> FlagThread:
    """The auditor re-reviews and accepts: the flag is settled and the evidence's mark becomes "accepted"."""
    thread = _locked(flag_id)
    ensure_working_auditor(actor, thread.engagement)
    body = _body(body)
    _move(thread, FlagThread.Status.ACCEPTED)
    _post(thread, kind=FlagMessage.Kind.ACCEPTED, actor=actor, body=body, action="flag.accepted")
    review_set(actor=actor, engagement=thread.engagement, evidence=thread.evidence, mark=EvidenceReview.Mark.ACCEPTED,
               comment=body)  # fmt: skip
    notification_send(
        recipients=_owners(thread),
        title=f"Flag accepted: {thread.control.framework.code} {thread.control.label}, {thread.evidence.title[:150]}",
        body=body,
        url=thread.get_absolute_url(),
    )
    return thread
