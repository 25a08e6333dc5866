"""Reads of engagements, scoped to who asks: compliance officers and admins see all, auditors their open ones."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.scoping import Grant, is_scoped_auditor
from apps.engagements.models import Engagement, EvidenceRequest, EvidenceReview, Sample
from apps.engagements.services import ACCESS_ACTIONS, can_answer_request, can_manage_engagements
from apps.evidence.models import Evidence
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.ledger.selectors import consistency_bundle
from apps.ledger.services import latest_checkpoint
from apps.policy.models import Control, CoverageSnapshot, Framework, ResultStatus, worst_status
from apps.policy.services import control_assessment_modes


def engagement_list_for_user(*, user) -> QuerySet[Engagement]:
    """Every engagement for those who run them; an auditor's own engagements while open; nothing otherwise."""
    qs = Engagement.objects.prefetch_related("systems", "auditors").order_by("-access_start", "-id")
    if can_manage_engagements(user):
        return qs
    if user.has_role(Role.AUDITOR):
        now = timezone.now()
        return qs.filter(auditors=user, access_start__lte=now, access_end__gt=now)
    return qs.none()


def auditor_grants_from_engagements(user, now) -> list[Grant]:
    """The engagements whose access window is open at `now` for this auditor, as grants.

    Registered as accounts' grants provider (apps.engagements.apps): accounts.scoping asks it
    through `auditor_grants()`, which every scoped selector uses."""
    rows = (
        Engagement.objects.filter(auditors=user, access_start__lte=now, access_end__gt=now)
        .prefetch_related("systems")
        .order_by("id")
    )
    return [
        Grant(
            engagement_id=e.pk,
            system_ids=frozenset(s.pk for s in e.systems.all()),
            observation_start=e.observation_start,
            observation_end=e.observation_end,
            access_end=e.access_end,
            frameworks=frozenset(e.frameworks or [f for s in e.systems.all() for f in (s.frameworks or [])]),
        )
        for e in rows
    ]


def engagement_get_for_user(*, user, pk: int) -> Engagement:
    return get_object_or_404(engagement_list_for_user(user=user), pk=pk)


def evidence_request_list(*, engagement: Engagement, status: str = "") -> QuerySet[EvidenceRequest]:
    qs = engagement.requests.select_related("system", "assignee", "requested_by").annotate(n_items=Count("items"))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("due_date", "id")


def evidence_request_list_for_assignee(*, user) -> QuerySet[EvidenceRequest]:
    """Requests someone on the system side should answer: assigned to them or on systems they own."""
    if not getattr(user, "is_authenticated", False) or is_scoped_auditor(user):
        return EvidenceRequest.objects.none()
    qs = EvidenceRequest.objects.select_related("engagement", "system", "requested_by", "assignee")
    if not can_manage_engagements(user):
        qs = qs.filter(Q(assignee=user) | Q(system__engineering_owners=user) | Q(system__risk_owners=user)).distinct()
    return qs.order_by("due_date", "id")


def _own_open_engagements(user) -> QuerySet[Engagement]:
    """The open engagements this user audits (a manager's view of all engagements is not their own work)."""
    return engagement_list_for_user(user=user).filter(auditors=user)


def evidence_request_list_for_auditor(
    *, user, status: str = EvidenceRequest.Status.ANSWERED
) -> QuerySet[EvidenceRequest]:
    """Requests of the auditor's open engagements in a status: by default answered, waiting for their review."""
    if not getattr(user, "is_authenticated", False) or not user.has_role(Role.AUDITOR):
        return EvidenceRequest.objects.none()
    return (
        EvidenceRequest.objects.filter(engagement__in=_own_open_engagements(user), status=status)
        .select_related("engagement", "system", "assignee")
        .order_by("due_date", "id")
    )


def review_flagged_list_for_auditor(*, user) -> QuerySet[EvidenceReview]:
    """Evidence the auditor's open engagements flagged: what they wait to see corrected."""
    if not getattr(user, "is_authenticated", False) or not user.has_role(Role.AUDITOR):
        return EvidenceReview.objects.none()
    return (
        EvidenceReview.objects.filter(engagement__in=_own_open_engagements(user), mark=EvidenceReview.Mark.FLAGGED)
        .select_related("engagement", "evidence", "evidence__system")
        .order_by("-reviewed_at", "-id")
    )


def evidence_request_get_for_user(*, user, engagement_pk: int, request_pk: int) -> tuple[EvidenceRequest, bool]:
    """(request, whether the user sees it as an auditor/manager of the engagement) or 404."""
    req = get_object_or_404(
        EvidenceRequest.objects.select_related("engagement", "system", "assignee", "requested_by", "control"),
        pk=request_pk,
        engagement_id=engagement_pk,
    )
    if engagement_list_for_user(user=user).filter(pk=engagement_pk).exists():
        return req, True
    if can_answer_request(user, req):
        return req, False
    raise Http404("No such evidence request")


def evidence_request_items(req: EvidenceRequest) -> list[dict]:
    """The answer's items, each with the evidence it points at (an upload's evidence once parsed)."""

    rows = []
    for item in req.items.select_related("evidence", "receipt", "added_by"):
        if item.evidence_id:
            evidence = [item.evidence]
        else:
            evidence = list(
                Evidence.objects.filter(receipt_id=item.receipt_id, generation=item.receipt.generation).order_by(
                    "ordinal"
                )
            )
        rows.append({"item": item, "evidence": evidence})
    return rows


def review_list(*, engagement: Engagement) -> QuerySet[EvidenceReview]:
    return engagement.reviews.select_related("evidence", "evidence__system", "reviewer").order_by("-reviewed_at")


def reviews_for_evidence(*, evidence_ids) -> dict[int, list[EvidenceReview]]:
    """Review marks on these evidence ids, across engagements (what owners are told)."""
    out: dict[int, list[EvidenceReview]] = {}
    for review in EvidenceReview.objects.filter(evidence_id__in=evidence_ids).select_related("engagement", "reviewer"):
        out.setdefault(review.evidence_id, []).append(review)
    return out


def sample_list(*, engagement: Engagement) -> QuerySet[Sample]:
    return engagement.samples.select_related("drawn_by").annotate(
        tested=Count("items", filter=~Q(items__result="untested")),
        failed=Count("items", filter=Q(items__result="failed")),
    )


def sample_get(*, engagement: Engagement, pk: int) -> Sample:
    return get_object_or_404(Sample.objects.select_related("drawn_by"), engagement=engagement, pk=pk)


def engagement_access_log(*, engagement: Engagement, limit: int | None = 500) -> list[dict]:
    """Every page an auditor opened and every file they downloaded in this engagement, newest first.

    Read from the ledger (sequenced entries plus those still pending), so the log is exactly
    what the tamper-evident record says."""
    object_id = str(engagement.pk)
    rows = []
    pending = PendingEntry.objects.filter(
        object_type="engagements.engagement", object_id=object_id, action__in=ACCESS_ACTIONS
    ).order_by("-id")
    sequenced = LedgerEntry.objects.filter(
        object_type="engagements.engagement", object_id=object_id, action__in=ACCESS_ACTIONS
    ).order_by("-index")
    if limit is not None:
        pending, sequenced = pending[:limit], sequenced[:limit]
    for index, entry in [(None, e) for e in pending] + [(e.index, e) for e in sequenced]:
        data = json.loads(bytes(entry.canonical))["data"]
        rows.append(
            {
                "index": index,
                "time": entry.recorded_at,
                "auditor": entry.actor_label,
                "action": entry.action,
                "method": data.get("method", ""),
                "path": data.get("path", ""),
                "status": data.get("status", ""),
                "detail": data.get("sha256", "") or data.get("what", ""),
            }
        )
    rows.sort(key=lambda r: r["time"], reverse=True)
    return rows[:limit] if limit is not None else rows


def engagement_consistency(*, engagement: Engagement) -> dict | None:
    """The consistency proof from the checkpoint current when the engagement opened to the latest one:
    "nothing was rewritten since the engagement opened". None when it opened before any checkpoint."""

    opening = engagement.opening_checkpoint
    if opening is None:
        return None
    return consistency_bundle(opening, latest_checkpoint())


def engagement_evidence_links(*, engagement: Engagement) -> list[tuple[str, str]]:
    """Links to the evidence list filtered to the engagement: its systems and observation window, then
    one per system when it has several.

    The list's filters take whole days (a date `until` includes the day); an auditor's own scope
    trims them to the exact window (apps.accounts.scoping.scope_evidence). Every link names its
    systems: an auditor of several engagements sees more systems than this one's."""
    window = _observation_days(engagement)
    base = reverse("evidence:list")
    systems = list(engagement.systems.order_by("name"))
    links = [("Browse the evidence in scope", f"{base}?{urlencode([('system', s.slug) for s in systems] + window)}")]
    if len(systems) > 1:
        links += [(f"Evidence of {s.name}", f"{base}?{urlencode([('system', s.slug), *window])}") for s in systems]
    return links


def _observation_days(engagement: Engagement) -> list[tuple[str, str]]:
    """The evidence list's `since`/`until` (whole days) covering the engagement's observation window."""
    return [
        ("since", timezone.localtime(engagement.observation_start).date().isoformat()),
        ("until", timezone.localtime(engagement.observation_end).date().isoformat()),
    ]


NOT_ASSESSED = "not-assessed"
STATUS_LABELS = {NOT_ASSESSED: "not assessed", ResultStatus.MISSING: "missing"}
# Short labels for a dense table (Control.Assessment's labels are written for the control page).
MODE_LABELS = {
    Control.Assessment.AUTOMATED: "Rules",
    Control.Assessment.MANUAL: "Documents",
    Control.Assessment.BOTH: "Rules and documents",
    Control.Assessment.NONE: "Neither",
}


def engagement_control_status(*, engagement: Engagement) -> list[dict]:
    """Every control of the engagement's frameworks with its status on each system in scope and how it is
    assessed, from the latest coverage rollup (as the overview). A control with no applicable result on a
    system is "not assessed" there, never passing; its overall status is the worst of the systems' results."""
    systems = list(engagement.systems.order_by("name"))
    modes = control_assessment_modes()
    # A control assessed by rules links to the evidence its results used, within the engagement.
    in_scope = [("system", s.slug) for s in systems] + _observation_days(engagement)
    evidence_base = reverse("evidence:list")
    out = []
    # the engagement's frameworks, or its systems' when it names none (as accounts.scoping decides)
    codes = engagement.frameworks or sorted({code for s in systems for code in (s.frameworks or [])})
    for framework in Framework.objects.filter(code__in=codes).order_by("code"):
        snapshots = CoverageSnapshot.objects.filter(framework=framework, system__in=systems)
        day = snapshots.order_by("-day").values_list("day", flat=True).first()
        by_system = {s.system_id: s.control_status or {} for s in snapshots.filter(day=day)} if day else {}
        rows, tally = [], {ResultStatus.PASS: 0, ResultStatus.FAIL: 0, ResultStatus.MISSING: 0,
                           ResultStatus.EXCEPTED: 0, NOT_ASSESSED: 0}  # fmt: skip
        for control in Control.objects.filter(framework=framework).select_related("framework").order_by("order", "pk"):
            cells = [by_system.get(s.pk, {}).get(control.control_id) for s in systems]
            status = worst_status([c for c in cells if c]) if any(cells) else NOT_ASSESSED
            tally[status] = tally.get(status, 0) + 1
            mode = modes.get(control.pk, Control.Assessment.NONE)
            by_rules = mode in (Control.Assessment.AUTOMATED, Control.Assessment.BOTH)
            rows.append({"control": control, "mode": mode, "mode_label": MODE_LABELS[mode], "status": status,
                         "status_label": STATUS_LABELS.get(status, status),
                         "evidence_url": f"{evidence_base}?{urlencode([('control', control.ref), *in_scope])}"
                         if by_rules else "",
                         "cells": [{"status": c or NOT_ASSESSED, "label": STATUS_LABELS.get(c or NOT_ASSESSED, c)}
                                   for c in cells]})  # fmt: skip
        out.append({"framework": framework, "day": day, "systems": systems, "rows": rows, "tally": tally,
                    "not_assessed": tally[NOT_ASSESSED]})  # fmt: skip
    return out


def answer_candidates(item) -> list:
    """Evidence an owner may link when answering the auditor about `item` (an evidence request or a flag
    thread: both name an engagement and a system): the system's, inside the window, newest first (200 at most)."""
    engagement, system = item.engagement, item.system
    return list(
        Evidence.objects.filter(
            system=system,
            effective_at__gte=engagement.observation_start,
            effective_at__lt=engagement.observation_end,
        )
        .only("id", "title", "effective_at")
        .order_by("-effective_at", "-id")[:200]
    )
