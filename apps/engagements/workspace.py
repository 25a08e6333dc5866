"""Reads of the per-control workspace of an engagement: what an auditor needs to settle one control.

For each control in scope: its requirement, the evidence of the engagement's systems inside the
observation window that its rule results used (current results and every result change), the results
in plain language, exceptions with their approvers, samples, requests, review marks and flag threads.
The control's audit status is derived from those rows, never typed in (`ControlReviewStatus`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter

from django.db.models import Q, QuerySet, TextChoices
from django.http import Http404

from apps.accounts.roles import Role
from apps.engagements.models import (
    Engagement,
    EvidenceRequest,
    EvidenceReview,
    FlagThread,
    SampleItem,
)
from apps.engagements.selectors import engagement_list_for_user
from apps.engagements.services import engagement_controls
from apps.evidence.models import Evidence
from apps.exceptions.models import Approval, ExceptionRequest
from apps.policy.models import Control, ControlResult, ControlResultChange, ResultStatus

SETTLED_MARKS = frozenset({EvidenceReview.Mark.ACCEPTED, EvidenceReview.Mark.NOT_APPLICABLE})


class ControlReviewStatus(TextChoices):
    """Where the audit of one control stands in an engagement (derived, see `_status`)."""

    NOT_STARTED = "not-started", "Not started"
    EVIDENCE_COMPLETE = "evidence-complete", "Evidence complete"
    FLAGGED = "flagged", "Flagged"
    ACCEPTED = "accepted", "Accepted"


def workspace_control_get(*, engagement: Engagement, ref: str) -> Control:
    """The control a workspace URL names ("<framework code>:<id>" or a bare id), if in the engagement's scope."""
    matches = list(engagement_controls(engagement).for_ref(str(ref))[:2])
    if len(matches) != 1:
        raise Http404("No such control in this engagement's frameworks")
    return matches[0]


@dataclass
class _Scope:
    """Bulk reads for a set of controls of one engagement, shared by the page, the progress bar and the workbook."""

    engagement: Engagement
    controls: list[Control]
    system_ids: list[int] = field(default_factory=list)
    evidence_ids: dict[int, set[int]] = field(default_factory=dict)  # control pk -> evidence in the window
    evidence: dict[int, Evidence] = field(default_factory=dict)
    reviews: dict[int, EvidenceReview] = field(default_factory=dict)  # evidence pk -> this engagement's mark
    flags: dict[int, list[FlagThread]] = field(default_factory=dict)  # control pk -> threads


def _scope(engagement: Engagement, controls: list[Control], *, with_messages: bool = False) -> _Scope:
    scope = _Scope(engagement, controls, list(engagement.systems.values_list("pk", flat=True)))
    pks = [c.pk for c in controls]
    used: dict[int, set[int]] = {pk: set() for pk in pks}
    results = ControlResult.objects.filter(control__in=pks, system__in=scope.system_ids)
    changes = ControlResultChange.objects.filter(control__in=pks, system__in=scope.system_ids)
    for qs in (results, changes):
        for control_id, ids in qs.values_list("control_id", "evidence_ids"):
            used[control_id].update(ids or ())
    every = set().union(*used.values()) if used else set()
    scope.evidence = {
        e.pk: e
        for e in Evidence.objects.filter(
            pk__in=every,
            system__in=scope.system_ids,
            effective_at__gte=engagement.observation_start,
            effective_at__lt=engagement.observation_end,
        ).select_related("system")
    }
    scope.evidence_ids = {pk: ids & scope.evidence.keys() for pk, ids in used.items()}
    reviews = EvidenceReview.objects.filter(engagement=engagement, evidence__in=scope.evidence.keys())
    scope.reviews = {r.evidence_id: r for r in reviews.select_related("reviewer", "evidence")}
    threads = FlagThread.objects.filter(engagement=engagement, control__in=pks).select_related("evidence", "opened_by")
    if with_messages:
        threads = threads.prefetch_related("messages__author")
    for thread in threads.order_by("-opened_at", "-id"):
        scope.flags.setdefault(thread.control_id, []).append(thread)
    return scope


def control_evidence_ids(*, engagement: Engagement, control: Control) -> set[int]:
    """Ids of the control's evidence in the engagement: of its systems, inside the observation window, used by a
    current result or a past result change of the control."""
    return _scope(engagement, [control]).evidence_ids[control.pk]


def _status(scope: _Scope, control: Control) -> str:
    """Flagged while a flag is unsettled or evidence carries a "flagged" mark; accepted once every piece of
    evidence in the window is marked accepted (or not applicable); evidence complete when there is evidence
    in the window; not started otherwise."""
    ids = scope.evidence_ids.get(control.pk, set())
    marks = [scope.reviews[i].mark for i in ids if i in scope.reviews]
    if any(t.status in FlagThread.UNSETTLED for t in scope.flags.get(control.pk, ())) or (
        EvidenceReview.Mark.FLAGGED in marks
    ):
        return ControlReviewStatus.FLAGGED
    if not ids:
        return ControlReviewStatus.NOT_STARTED
    if len(marks) == len(ids) and all(m in SETTLED_MARKS for m in marks):
        return ControlReviewStatus.ACCEPTED
    return ControlReviewStatus.EVIDENCE_COMPLETE


def control_review_statuses(*, engagement: Engagement) -> dict[int, str]:
    """Every in-scope control's audit status (control pk -> ControlReviewStatus), in a fixed number of queries."""
    controls = list(engagement_controls(engagement))
    scope = _scope(engagement, controls)
    return {c.pk: _status(scope, c) for c in controls}


def engagement_progress(*, engagement: Engagement, statuses: dict[int, str] | None = None) -> dict:
    """The engagement's progress: how many of its controls are accepted, and how many are in each status."""
    statuses = control_review_statuses(engagement=engagement) if statuses is None else statuses
    counts = {s.value: 0 for s in ControlReviewStatus}
    for status in statuses.values():
        counts[status] += 1
    total = len(statuses)
    accepted = counts[ControlReviewStatus.ACCEPTED]
    return {
        "total": total,
        "accepted": accepted,
        "percent": round(100 * accepted / total) if total else 0,
        "counts": [(s.value, s.label, counts[s.value]) for s in ControlReviewStatus],
    }


def _plain(result) -> str:
    """What a person reads for a result: the rule's message with its facts filled in; for a pass, what it met."""
    if result.message:
        return result.message
    if result.status == ResultStatus.PASS:
        return f"Meets the rule: {result.rule_version.title}"
    return result.reason


def _result_row(scope: _Scope, r, at) -> dict:
    ids = list(r.evidence_ids or ())
    return {
        "control_id": r.control_id,
        "rule": r.rule.key,
        "rule_title": r.rule_version.title,
        "system": r.system,
        "subject": r.artifact.uri if r.artifact_id else "the system",
        "status": r.status,
        "status_label": ResultStatus(r.status).label if r.status in ResultStatus.values else r.status,
        "message": _plain(r),
        "at": at,
        "evidence": [scope.evidence[i] for i in ids if i in scope.evidence],
        "outside": sum(1 for i in ids if i not in scope.evidence),
    }


def _by_control(rows, key=lambda row: row.control_id) -> dict[int, list]:
    out: dict[int, list] = {}
    for row in rows:
        out.setdefault(key(row), []).append(row)
    return out


@dataclass
class _Details:
    """The rest of the workspace of every control of a scope, grouped by control pk (a fixed number of queries)."""

    results: dict[int, list[dict]]
    history: dict[int, list[dict]]
    exceptions: dict[int, list[dict]]
    requests: dict[int, list[EvidenceRequest]]
    samples: dict[tuple[str, str], list[SampleItem]]  # (object type, object id) -> sampled items


def _details(scope: _Scope) -> _Details:
    engagement, pks = scope.engagement, [c.pk for c in scope.controls]
    in_systems = {"control__in": pks, "system__in": scope.system_ids}
    related = ("rule", "rule_version", "system", "artifact")
    results = ControlResult.objects.filter(**in_systems).select_related(*related).order_by("system__name", "rule__key")
    history = (
        ControlResultChange.objects.filter(
            **in_systems, changed_at__gte=engagement.observation_start, changed_at__lt=engagement.observation_end
        )
        .select_related(*related)
        .order_by("-changed_at", "-id")
    )
    # Exceptions asked for before the window ended and not ended before it began, with every live decision:
    # who, in which slot, and when they re-authenticated.
    exceptions = [
        {"exception": e, "approvals": []}
        for e in ExceptionRequest.objects.filter(**in_systems, submitted_at__lt=engagement.observation_end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=engagement.observation_start))
        .select_related("system")
        .order_by("submitted_at", "id")
    ]
    by_id = {row["exception"].pk: row for row in exceptions}
    approvals = Approval.objects.filter(request__in=by_id.keys(), voided_at__isnull=True).select_related("approver")
    for approval in approvals.order_by("at", "id"):
        by_id[approval.request_id]["approvals"].append(approval)
    samples: dict[tuple[str, str], list[SampleItem]] = {}
    items = SampleItem.objects.filter(
        sample__engagement=engagement, object_type__in=("evidence.evidence", "exceptions.exceptionrequest")
    )
    for item in items.select_related("sample", "tested_by").order_by("sample_id", "position"):
        samples.setdefault((item.object_type, item.object_id), []).append(item)
    requests = EvidenceRequest.objects.filter(engagement=engagement, control__in=pks)
    return _Details(
        results=_by_control((_result_row(scope, r, r.evaluated_at) for r in results), key=itemgetter("control_id")),
        history=_by_control((_result_row(scope, r, r.changed_at) for r in history), key=itemgetter("control_id")),
        exceptions=_by_control(exceptions, key=lambda row: row["exception"].control_id),
        requests=_by_control(requests.select_related("system", "assignee").order_by("due_date", "id")),
        samples=samples,
    )


def control_workspace(
    *, engagement: Engagement, control: Control, scope: _Scope | None = None, details: _Details | None = None
) -> dict:
    """Everything on the workspace page (and the workbook's sheet) of one control of an engagement."""
    scope = scope or _scope(engagement, [control], with_messages=True)
    details = details or _details(scope)
    ids = scope.evidence_ids.get(control.pk, set())
    evidence = sorted((scope.evidence[i] for i in ids), key=lambda e: (e.effective_at, e.pk), reverse=True)
    threads = scope.flags.get(control.pk, [])
    unsettled = {t.evidence_id: t for t in threads if t.status in FlagThread.UNSETTLED}
    exceptions = details.exceptions.get(control.pk, [])
    objects = [("evidence.evidence", str(e.pk)) for e in evidence] + [
        ("exceptions.exceptionrequest", str(row["exception"].pk)) for row in exceptions
    ]
    status = _status(scope, control)
    return {
        "control": control,
        "status": status,
        "status_label": ControlReviewStatus(status).label,
        "evidence": [{"evidence": e, "review": scope.reviews.get(e.pk), "flag": unsettled.get(e.pk)} for e in evidence],
        "results": details.results.get(control.pk, []),
        "history": details.history.get(control.pk, []),
        "exceptions": exceptions,
        "samples": [item for key in objects for item in details.samples.get(key, [])],
        "requests": details.requests.get(control.pk, []),
        "reviews": [scope.reviews[e.pk] for e in evidence if e.pk in scope.reviews],
        "flags": threads,
    }


def engagement_workspaces(*, engagement: Engagement) -> list[dict]:
    """Every in-scope control's workspace, in catalogue order (the workbook)."""
    controls = list(engagement_controls(engagement))
    scope = _scope(engagement, controls, with_messages=True)
    details = _details(scope)
    return [control_workspace(engagement=engagement, control=c, scope=scope, details=details) for c in controls]


def flag_get_for_user(*, user, engagement_pk: int, flag_pk: int, can_answer) -> tuple[FlagThread, bool]:
    """(flag, whether the user sees it as an auditor/manager of the engagement) or 404.

    `can_answer(user, thread)` says whether the user is on the system's side and may answer it."""
    thread = (
        FlagThread.objects.select_related("engagement", "control__framework", "evidence", "system")
        .filter(pk=flag_pk, engagement_id=engagement_pk)
        .first()
    )
    if thread is None:
        raise Http404("No such flag")
    if engagement_list_for_user(user=user).filter(pk=engagement_pk).exists():
        return thread, True
    if can_answer(user, thread):
        return thread, False
    raise Http404("No such flag")


def flag_list_for_auditor(*, user) -> QuerySet[FlagThread]:
    """Unsettled flags of the auditor's own open engagements, answered ones (their move) first."""
    if not getattr(user, "is_authenticated", False) or not user.has_role(Role.AUDITOR):
        return FlagThread.objects.none()
    return (
        FlagThread.objects.filter(
            engagement__in=engagement_list_for_user(user=user).filter(auditors=user),
            status__in=FlagThread.UNSETTLED,
        )
        .select_related("engagement", "control__framework", "evidence", "system")
        .order_by("status", "-status_since", "-id")  # "answered" sorts before "open"
    )


def flag_list_for_owner(*, user, can_manage: bool) -> list[FlagThread]:
    """Unsettled flags someone on the system side should answer: on systems they own (all for managers)."""
    qs = FlagThread.objects.filter(status__in=FlagThread.UNSETTLED).select_related(
        "engagement", "control__framework", "evidence", "system"
    )
    if not can_manage:
        qs = qs.filter(Q(system__engineering_owners=user) | Q(system__risk_owners=user)).distinct()
    return list(qs.order_by("status_since", "id")[:200])


__all__ = [
    "ControlReviewStatus",
    "control_evidence_ids",
    "control_review_statuses",
    "control_workspace",
    "engagement_progress",
    "engagement_workspaces",
    "flag_get_for_user",
    "flag_list_for_auditor",
    "flag_list_for_owner",
    "workspace_control_get",
]
