"""Expiry and waiting reminders, once per lead time."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.approvals.expiry import days_left_phrase, expiry_day
from apps.approvals.slots import Slot
from apps.exceptions import chain as chain_mod
from apps.exceptions.models import ExceptionReminder, ExceptionRequest
from apps.exceptions.services.helpers import _approvers_to_ask, _notify, _owners
from apps.exceptions.services.validation import Status
from apps.ledger.services import ledger_record

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
