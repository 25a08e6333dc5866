"""Reads of exceptions, scoped to the user (apps.accounts.scoping), prefetched for pages and the API."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.scoping import (
    ALL,
    is_read_only,
    scope_by_system,
    scope_evidence,
    scope_interval,
    visible_framework_codes,
)
from apps.approvals.expiry import days_left_phrase, expiry_day
from apps.approvals.slots import can_use_inbox, is_executive  # noqa: F401  (can_use_inbox: re-exported for callers here)
from apps.evidence.models import Evidence
from apps.evidence.selectors import artifact_list_for_user
from apps.exceptions.chain import chain_stuck_reason, open_slots_for
from apps.exceptions.findings import findings_of, findings_total
from apps.exceptions.models import Approval, ExceptionMetricSnapshot, ExceptionRequest
from apps.exceptions.tiers import Slot, Tier, tier_policy
from apps.inventory.models import System
from apps.policy.models import Control, ControlResult, EvaluatedSubject, ResultStatus, RuleVersion
from apps.policy.selectors import gate_for_subject, gate_items_by_rule

Status = ExceptionRequest.Status


# ---------------------------------------------------------------- the policy hook


def exception_covering_batch(*, keys: list[tuple[int, int, int | None]], at: datetime) -> dict[tuple, int]:
    """The approved, unexpired exception covering each (control, system, artifact) result at `at`.

    The coverage provider of apps.policy.providers: one query for an evaluation batch, however
    many failing results it has. A system-wide exception (no artifact) covers every subject of its
    system; a narrowed one covers only results on its artifact, never a system-scope result
    (artifact None). Of several, the latest expiry wins (then the newest). Keys nothing covers are
    left out of the answer."""
    if not keys:
        return {}
    artifact_ids = {artifact for _, _, artifact in keys if artifact is not None}
    # Controls x systems may fetch a few exceptions no key asks about (another system's control);
    # approved exceptions are few, and the pairing below drops them. exception_active_cover serves it.
    rows = (
        ExceptionRequest.objects.filter(
            status=Status.APPROVED,
            control_id__in={control for control, _, _ in keys},
            system_id__in={system for _, system, _ in keys},
            expires_at__gt=at,
        )
        .filter(Q(artifact__isnull=True) | Q(artifact_id__in=artifact_ids))
        .values_list("pk", "control_id", "system_id", "artifact_id", "expires_at")
    )
    candidates: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for pk, control, system, artifact, expires_at in rows:
        candidates[(control, system)].append((expires_at, pk, artifact))
    covered: dict[tuple, int] = {}
    for key in keys:
        control, system, artifact = key
        fitting = [c for c in candidates.get((control, system), ()) if c[2] is None or c[2] == artifact]
        if fitting:
            covered[key] = max(fitting)[1]  # latest expiry, then highest id
    return covered


def exception_covering(*, control_id: int, system_id: int, artifact_id: int | None, at: datetime) -> int | None:
    """The approved, unexpired exception covering a control on a subject at `at` (latest expiry wins), or None."""
    key = (control_id, system_id, artifact_id)
    return exception_covering_batch(keys=[key], at=at).get(key)


# ---------------------------------------------------------------- who may see and do what


def _sees_drafts_of_others(user) -> bool:
    return user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER)


def exception_queryset_for_user(*, user) -> QuerySet[ExceptionRequest]:
    """Exceptions of systems the user may see; drafts only to their requester and compliance officers.

    An auditor sees, per open engagement, the exceptions of its systems and frameworks alive at
    some time of its observation window (created before it ends, not ended before it starts)."""
    if not getattr(user, "is_authenticated", False):
        return ExceptionRequest.objects.none()
    qs = scope_interval(user, ExceptionRequest.objects.all(), start_field="created_at", end_field="ended_at")
    codes = visible_framework_codes(user)
    if codes is not ALL:
        qs = qs.filter(control__framework__code__in=codes)
    if not _sees_drafts_of_others(user):
        qs = qs.exclude(Q(status=Status.DRAFT) & ~Q(requested_by=user))
    return qs.select_related("control", "control__framework", "system", "artifact", "requested_by", "renewal_of")


@dataclass(frozen=True)
class ExceptionFilters:
    system: str = ""
    control: str = ""
    tier: str = ""
    status: str = ""
    expiring_within: int | None = None  # days: approved and ending within this many days
    requested_by_me: bool = False


def exception_list_for_user(*, user, filters: ExceptionFilters | None = None, now: datetime | None = None):
    """The register: filtered, newest first."""
    filters = filters or ExceptionFilters()
    qs = exception_queryset_for_user(user=user)
    if filters.system:
        qs = qs.filter(system__slug=filters.system)
    if filters.control:
        qs = qs.filter(control__control_id=filters.control)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.expiring_within is not None:
        now = now or timezone.now()
        qs = qs.filter(
            status=Status.APPROVED, expires_at__gt=now, expires_at__lte=now + timedelta(days=filters.expiring_within)
        )
    if filters.requested_by_me:
        qs = qs.filter(requested_by=user)
    return qs.order_by("-created_at", "-pk")


def exception_get_for_user(*, user, pk: int) -> ExceptionRequest:
    return get_object_or_404(exception_queryset_for_user(user=user), pk=pk)


def exception_stuck_list(*, user, limit: int = 100) -> list[ExceptionRequest]:
    """For compliance officers: pending requests nobody eligible remains to complete, each with `stuck_reason`."""

    if not getattr(user, "is_authenticated", False) or is_read_only(user) or not user.has_role(Role.COMPLIANCE_OFFICER):
        return []
    rows = (
        exception_queryset_for_user(user=user)
        .filter(status=Status.PENDING)
        .select_related("system", "control")
        .order_by("pending_since", "pk")[:limit]
    )
    out = []
    for req in rows:
        reason = chain_stuck_reason(req)
        if reason:
            req.stuck_reason = reason
            out.append(req)
    return out


def exception_inbox_for_user(*, user) -> list[ExceptionRequest]:
    """Pending requests with a slot this user could fill now (SoD applied), oldest waiting first."""

    if not can_use_inbox(user):
        return []
    qs = exception_queryset_for_user(user=user).filter(status=Status.PENDING).exclude(requested_by=user)
    slot_filter = Q(pk__in=[])
    if user.has_role(Role.RISK_OWNER):
        slot_filter |= Q(system__risk_owners=user)
    if user.has_role(Role.COMPLIANCE_OFFICER):
        slot_filter |= Q(tier__in=_tiers_with_slot(Slot.COMPLIANCE_OFFICER))
    if is_executive(user):  # cached on the user: the inbox and the navigation badge ask on every page
        slot_filter |= Q(tier__in=_tiers_with_slot(Slot.EXECUTIVE))
    rows = list(
        qs.filter(slot_filter)
        .distinct()
        .prefetch_related("approvals", "system__risk_owners")
        .order_by("pending_since", "pk")
    )
    out = []
    for req in rows:
        slots = open_slots_for(user, req)
        if slots:
            req.my_slots = [Slot(s).label for s in slots]
            out.append(req)
    return out


def _tiers_with_slot(slot: str) -> list[str]:
    return [t for t, rule in tier_policy().tiers.items() if slot in rule.chain]


def can_request(user, system) -> bool:
    """Engineers of the system, its risk owners and compliance officers request exceptions."""
    if not getattr(user, "is_authenticated", False) or is_read_only(user):
        return False
    if user.has_role(Role.COMPLIANCE_OFFICER):
        return True
    if user.has_role(Role.RISK_OWNER) and system.risk_owners.filter(pk=user.pk).exists():
        return True
    return user.has_role(Role.ENGINEER) and system.engineering_owners.filter(pk=user.pk).exists()


def can_request_any(user) -> bool:
    if not getattr(user, "is_authenticated", False) or is_read_only(user):
        return False
    return user.has_role(Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER)


PICKER_LIMIT = 300


def exception_picker_options(*, user, systems) -> dict[str, list[tuple[str, str]]]:
    """What the request form's searchable pickers offer, as (value, label): every control, and the newest
    artifacts (at most PICKER_LIMIT) of `systems`, the systems this user may request an exception for."""
    controls = Control.objects.order_by("framework__code", "order").values_list("control_id", "title")
    artifacts = (
        artifact_list_for_user(user=user)
        .filter(system__in=systems, deleted_at__isnull=True)
        .order_by("-first_seen", "-pk")
        .values_list("pk", "uri", "system__name")[:PICKER_LIMIT]
    )
    return {
        "controls": [(control_id, title) for control_id, title in controls],
        "artifacts": [(str(pk), f"{uri} ({system})") for pk, uri, system in artifacts],
    }


EVIDENCE_PER_SYSTEM = 50


@dataclass(frozen=True)
class EvidenceOption:
    """One piece of evidence the request form's picker offers, with the system it belongs to."""

    pk: int
    label: str
    system_slug: str
    system_name: str


def exception_evidence_options(*, user, systems, chosen: str = "", keep=()) -> list[EvidenceOption]:
    """The evidence the request form's picker offers: of `systems` (those the user may request an exception
    for; only the `chosen` one's when a system is chosen), visible to the user, the newest EVIDENCE_PER_SYSTEM
    of each, and also those of `keep` (the ids already cited or picked) that are in that same scope.

    Offering is not allowing: exception_validate() checks every cited id on the server."""
    scope = scope_evidence(user, Evidence.objects.filter(system__in=systems))
    if chosen:
        scope = scope.filter(system__slug=chosen)
    newest = scope.annotate(
        nth=Window(RowNumber(), partition_by=F("system_id"), order_by=[F("effective_at").desc(), F("pk").desc()])
    ).filter(nth__lte=EVIDENCE_PER_SYSTEM)
    keep_ids = {int(p) for value in keep for p in str(value).replace(",", " ").split() if p.isdigit()}
    fields = ("pk", "title", "effective_at", "system__slug", "system__name")
    newest = newest.order_by("system__name", "-effective_at", "-pk")
    rows = {row[0]: row for row in newest.values_list(*fields)[:PICKER_LIMIT]}
    if keep_ids - rows.keys():
        rows.update({row[0]: row for row in scope.filter(pk__in=keep_ids - rows.keys()).values_list(*fields)})
    ordered = sorted(rows.values(), key=lambda r: (r[4], r[3], -r[2].timestamp(), -r[0]))
    return [
        EvidenceOption(pk, f"#{pk} {title[:90]} ({effective_at:%Y-%m-%d})", slug, name)
        for pk, title, effective_at, slug, name in ordered
    ]


def requestable_systems(user):
    qs = scope_by_system(user, System.objects.all(), "id").order_by("name")
    if user.has_role(Role.COMPLIANCE_OFFICER):
        return qs
    cond = Q(pk__in=[])
    if user.has_role(Role.RISK_OWNER):
        cond |= Q(risk_owners=user)
    if user.has_role(Role.ENGINEER):
        cond |= Q(engineering_owners=user)
    return qs.filter(cond).distinct()


def can_edit(user, req) -> bool:
    """The requester (while open) and compliance officers edit requests that are draft or pending."""
    if req.status not in ExceptionRequest.OPEN or is_read_only(user):
        return False
    return user.pk == req.requested_by_id or user.has_role(Role.COMPLIANCE_OFFICER)


def can_revoke(user, req) -> bool:
    return (
        req.status in (Status.APPROVED, Status.PENDING)
        and not is_read_only(user)
        and user.has_role(Role.COMPLIANCE_OFFICER)
    )


def can_renew(user, req) -> bool:
    return req.status in (Status.APPROVED, Status.EXPIRED) and can_request(user, req.system)


# ---------------------------------------------------------------- what a request is about


def covered_results(req) -> QuerySet[ControlResult]:
    """The control results this exception covers (or would cover once approved)."""
    qs = ControlResult.objects.filter(control_id=req.control_id, system_id=req.system_id)
    if req.artifact_id:
        qs = qs.filter(artifact_id=req.artifact_id)
    return qs.select_related("rule", "rule_version", "artifact").order_by("rule__key", "artifact_id")


def exception_decision_summary(req, results: list, *, now: datetime | None = None) -> dict:
    """What a decision accepts, for the top of the decision page: results grouped by rule (with counts
    per status), how many subjects, and for how long (days left counted up, the chosen last day)."""

    now = now or timezone.now()
    groups: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        groups[r.rule.key][r.status] += 1
    left = req.expires_at - now
    phrase = days_left_phrase(left)
    if left.total_seconds() <= 0:
        days_left = "expired"
    else:
        days_left = f"{phrase.removeprefix('in ')} left" if phrase.startswith("in ") else "less than a day left"
    by_rule = [
        {"rule": key, "count": sum(c.values()), "statuses": sorted(c.items())} for key, c in sorted(groups.items())
    ]
    return {
        "by_rule": by_rule,
        # What the decision changes: the rules with a result that is not passing (a passing one needs no exception).
        "accepted": [g for g in by_rule if any(status != ResultStatus.PASS for status, _ in g["statuses"])],
        "accepted_results": sum(n for c in groups.values() for status, n in c.items() if status != ResultStatus.PASS),
        "passing": sum(c[ResultStatus.PASS] for c in groups.values()),
        "subjects": len({r.artifact_id for r in results}),
        "accepted_subjects": len({r.artifact_id for r in results if r.status != ResultStatus.PASS}),
        "days_left": days_left,
        "expiry_day": expiry_day(req.expires_at),
    }


FAILING = (ResultStatus.FAIL, ResultStatus.MISSING)
# Subjects whose gate the decision page asks about (newest first); the page says when there are more.
IMPACT_SUBJECTS = 40


def exception_unblocks(req, *, limit: int = IMPACT_SUBJECTS) -> dict:
    """What approving this request changes at the gate, asked of the policy gate itself: it answers for
    each subject the request reaches with the covered failing results counted as excepted.

    `unblocked`: subjects blocked now and allowed once approved; `still_blocked`: subjects this request
    blocks now that stay blocked, each with what still blocks them (grouped by rule). A system-wide
    request reaches every evaluated subject of the system (its system-scope results gate them all);
    `checked` of `total` subjects were asked, newest first."""

    covered = list(covered_results(req).filter(status__in=FAILING).values_list("pk", "artifact_id"))
    ids = {pk for pk, _ in covered}
    out = {"unblocked": [], "still_blocked": [], "checked": 0, "total": 0}
    if not ids:
        return out
    subjects = EvaluatedSubject.objects.filter(system_id=req.system_id)
    if not any(artifact_id is None for _, artifact_id in covered):
        subjects = subjects.filter(artifact_id__in={a for _, a in covered})
    out["total"] = subjects.count()
    for subject in subjects.select_related("artifact").order_by("-evaluated_at", "-pk")[:limit]:
        out["checked"] += 1
        decision = gate_for_subject(artifact=subject.artifact, assume_excepted=ids)
        if not any(item["mode"] == RuleVersion.Mode.GATE for item in decision.assumed_excepted):
            continue  # this request does not block that subject's gate (warnings only)
        row = {"artifact": subject.artifact, "kind": subject.kind, "blocking": gate_items_by_rule(decision.failing)}
        if decision.allowed:
            out["unblocked"].append(row)
        else:
            if not decision.evaluated:
                row["blocking"].append({"rule": "not evaluated yet", "controls": [], "items": [], "message": ""})
            out["still_blocked"].append(row)
    return out


def exception_other_failures(req, *, user=None) -> list[dict]:
    """Other failing rules on the request's scope that it does not cover, grouped by rule: how many results,
    on how many subjects, for which controls, whether they block the gate, and one plain message.

    The scope is the system (a system-wide request) or the one artifact and the system-scope results
    that gate it (a narrowed request). With `user`, only controls of frameworks they work with."""

    qs = ControlResult.objects.filter(system_id=req.system_id, status__in=FAILING).exclude(control_id=req.control_id)
    codes = visible_framework_codes(user) if user is not None else ALL
    if codes is not ALL:  # an auditor reads only the controls of their engagements' frameworks
        qs = qs.filter(control__framework__code__in=codes)
    if req.artifact_id:
        qs = qs.filter(Q(artifact_id=req.artifact_id) | Q(artifact__isnull=True))
    rows = (
        qs.values("rule__key")
        .annotate(
            count=Count("pk"),
            subjects=Count("artifact_id", distinct=True),
            system_scope=Count("pk", filter=Q(artifact__isnull=True)),
            controls=ArrayAgg("control__control_id", distinct=True, order_by="control__control_id"),
            gate=Count("pk", filter=Q(rule_version__mode=RuleVersion.Mode.GATE)),
            message=Max("message"),
            reason=Max("reason"),
        )
        .order_by("-count", "rule__key")
    )
    return [
        {
            "rule": r["rule__key"],
            "count": r["count"],
            "subjects": r["subjects"] + (1 if r["system_scope"] else 0),
            "controls": r["controls"],
            "blocks": r["gate"] > 0,
            "message": r["message"] or r["reason"],
        }
        for r in rows
    ]


def current_state(req) -> dict:
    """The state an approval freezes: covered results with their evidence findings, the rating."""
    results = [r for r in covered_results(req) if r.status != ResultStatus.NOT_APPLICABLE]
    evidence_ids = {e for r in results for e in r.evidence_ids}
    summaries = dict(Evidence.objects.filter(pk__in=evidence_ids).values_list("pk", "summary")) if evidence_ids else {}
    return {
        "results": [
            {
                "result": r.pk,
                "rule": r.rule.key,
                "artifact": r.artifact.uri if r.artifact_id else None,
                "status": r.status,
                "reason": r.reason[:500],
                "evidence": [int(e) for e in r.evidence_ids],
                "findings": findings_total(findings_of(summaries.get(e)) for e in r.evidence_ids),
            }
            for r in results
        ],
        "likelihood": req.likelihood,
        "impact": req.impact,
        "tier": req.tier,
        "system_risk_tier": req.system.risk_tier,
    }


def evidence_for_request(*, user, req, limit: int = 20) -> list[Evidence]:
    """Evidence the covered results and the request point to, that the user may see."""
    ids = set(req.evidence_ids)
    for r in covered_results(req):
        ids.update(r.evidence_ids)
    if not ids:
        return []
    qs = scope_evidence(user, Evidence.objects.filter(pk__in=ids)).select_related("subject")
    return list(qs.order_by("-effective_at")[:limit])


# ---------------------------------------------------------------- charts and metrics

AGE_BUCKETS = (("0-7 days", 0, 7), ("8-30 days", 8, 30), ("31-90 days", 31, 90), ("over 90 days", 91, None))


def exception_aging(*, user, now: datetime | None = None) -> dict:
    """Open and active exceptions by age (days since submitted) and tier, for the aging chart."""
    now = now or timezone.now()
    qs = exception_queryset_for_user(user=user).filter(status__in=[Status.PENDING, Status.APPROVED])
    counts: dict[tuple[str, str], int] = Counter()
    for tier, since, created in qs.values_list("tier", "submitted_at", "created_at"):
        age = (now - (since or created)).days
        for label, low, high in AGE_BUCKETS:
            if age >= low and (high is None or age <= high):
                counts[(label, tier)] += 1
                break
    return {
        "buckets": [b[0] for b in AGE_BUCKETS],
        "tiers": list(Tier.values),
        "counts": {tier: [counts[(b[0], tier)] for b in AGE_BUCKETS] for tier in Tier.values},
    }


def exception_expiry_calendar(*, user, now: datetime | None = None, weeks: int = 12) -> dict:
    """Active exceptions ending per day over the next `weeks` weeks (calendar heatmap + table)."""
    now = now or timezone.now()
    start = timezone.localdate(now)
    start -= timedelta(days=start.weekday())  # Monday of this week
    end = start + timedelta(weeks=weeks)
    qs = exception_queryset_for_user(user=user).filter(
        status=Status.APPROVED,
        expires_at__gte=timezone.make_aware(datetime.combine(start, datetime.min.time())),
        expires_at__lt=timezone.make_aware(datetime.combine(end, datetime.min.time())),
    )
    per_day: dict[date, list[str]] = defaultdict(list)
    for pk, expires in qs.values_list("pk", "expires_at"):
        per_day[timezone.localdate(expires)].append(f"EX-{pk}")
    return {"start": start, "weeks": weeks, "per_day": dict(per_day), "today": timezone.localdate(now)}


def exception_summary_for_user(*, user, now: datetime | None = None, days: int = 14) -> dict:
    """Counts for the overview card: active, pending, expiring soon (with the next few)."""
    now = now or timezone.now()
    qs = exception_queryset_for_user(user=user)
    expiring = qs.filter(status=Status.APPROVED, expires_at__gt=now, expires_at__lte=now + timedelta(days=days))
    return {
        "active": qs.filter(status=Status.APPROVED).count(),
        "pending": qs.filter(status=Status.PENDING).count(),
        "expiring": expiring.count(),
        # Only what the card shows: a seven-table join took longer to plan than to run.
        "expiring_next": list(
            expiring.select_related(None).select_related("control", "system").order_by("expires_at")[:5]
        ),
        "days": days,
    }


def exception_metrics_latest(*, user, limit: int | None = None) -> tuple[list[ExceptionMetricSnapshot], int]:
    """Today's (latest) exception metrics of the visible systems that have pending or active
    exceptions: the `limit` busiest (most pending + active, then by name), and how many there are.

    Bounded for the overview card, whose cost must not grow with the number of systems."""
    latest = ExceptionMetricSnapshot.objects.order_by("-day").values_list("day", flat=True).first()
    if latest is None:
        return [], 0
    active = F("active_low") + F("active_medium") + F("active_high") + F("active_critical")
    qs = (
        scope_by_system(user, ExceptionMetricSnapshot.objects.filter(day=latest))
        .annotate(load=F("pending") + active)
        .filter(load__gt=0)
    )
    rows = qs.select_related("system").order_by("-load", "system__name")
    if limit is not None:
        rows = rows[:limit]
    rows = list(rows)
    total = len(rows) if limit is None or len(rows) < limit else qs.count()
    return rows, total


def approvals_of(req) -> QuerySet[Approval]:
    return req.approvals.select_related("approver").order_by("at", "pk")
