"""Reads of release sign-off, scoped to what the user may see; the inbox rows; approval latency."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.scoping import ALL, is_read_only, scope_by_system, scope_evidence, visible_framework_codes
from apps.approvals.slots import Slot, can_use_inbox, is_executive
from apps.evidence.models import Evidence, EvidenceSubject
from apps.evidence.selectors import evidence_counting
from apps.policy.facts import subject_chain
from apps.policy.models import Control
from apps.policy.selectors import EVALUATION_PENDING, gate_for_subject, gate_items_by_rule
from apps.releases import chain as chain_mod
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.policy import release_policy


def signoff_list_for_user(*, user, status: str = "") -> QuerySet[ReleaseSignoff]:
    qs = scope_by_system(user, ReleaseSignoff.objects.select_related("artifact", "system", "requested_by"))
    return qs.filter(status=status) if status else qs


def signoff_get_for_user(*, user, pk: int) -> ReleaseSignoff:
    return get_object_or_404(signoff_list_for_user(user=user), pk=pk)


def signoff_for_artifact(*, user, artifact) -> list[ReleaseSignoff]:
    return list(signoff_list_for_user(user=user).filter(artifact=artifact))


def _classes_with_slot(slot: str) -> list[str]:
    out = []
    for cls in release_policy().classes.values():
        chains = [cls.chain, *cls.by_risk_tier.values()]
        if any(step.slot == slot for chain in chains for step in chain):
            out.append(cls.name)
    return out


def release_inbox_for_user(*, user) -> list[ReleaseSignoff]:
    """Releases waiting for a sign-off this user could give now (SoD applied), oldest waiting first."""
    if not can_use_inbox(user):
        return []
    qs = signoff_list_for_user(user=user, status=ReleaseSignoff.Status.PENDING).exclude(requested_by=user)
    slot_filter = Q(pk__in=[])
    if user.has_role(Role.RISK_OWNER):
        slot_filter |= Q(system__risk_owners=user)
    if user.has_role(Role.COMPLIANCE_OFFICER):
        slot_filter |= Q(change_class__in=_classes_with_slot(Slot.COMPLIANCE_OFFICER))
    if is_executive(user):  # cached on the user: the inbox and the navigation badge ask on every page
        slot_filter |= Q(change_class__in=_classes_with_slot(Slot.EXECUTIVE))
    out = []
    for s in qs.filter(slot_filter).distinct().order_by("requested_at", "pk")[:200]:
        slots = chain_mod.open_slots_for(user, s)
        if slots:
            s.my_slots = [Slot(x).label for x in slots]
            out.append(s)
    return out


def release_stuck_list(*, user, limit: int = 100) -> list[ReleaseSignoff]:
    """For compliance officers: sign-offs nobody eligible remains to complete, each with `stuck_reason`."""
    if not getattr(user, "is_authenticated", False) or is_read_only(user) or not user.has_role(Role.COMPLIANCE_OFFICER):
        return []
    out = []
    for s in signoff_list_for_user(user=user, status=ReleaseSignoff.Status.PENDING).order_by("requested_at", "pk")[
        :limit
    ]:
        reason = chain_mod.chain_stuck_reason(s)
        if reason:
            s.stuck_reason = reason
            out.append(s)
    return out


def human_duration(delta: timedelta) -> str:
    """3 min, 5 h 12 min, 2 d 4 h."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def decisions_of(signoff: ReleaseSignoff) -> list[SignoffDecision]:
    return list(signoff.decisions.select_related("approver").order_by("at", "id"))


def timeline_steps(signoff: ReleaseSignoff) -> list[dict]:
    """Each decision of the current version with the time it took from the request (or the previous decision)."""
    rows, previous = [], signoff.requested_at
    for d in decisions_of(signoff):
        if d.signoff_version != signoff.version or d.voided_at:
            continue
        step, since = d.at - previous, d.at - signoff.requested_at
        rows.append(
            {
                "decision": d,
                "step_seconds": int(step.total_seconds()),
                "step_human": human_duration(step),
                "since_human": human_duration(since),
            }
        )
        previous = d.at
    return rows


def evidence_of(signoff: ReleaseSignoff) -> list[Evidence]:
    return list(Evidence.objects.filter(pk__in=signoff.evidence_ids).order_by("-effective_at", "-id"))


def release_signoff_latency(*, system_ids=None, now: datetime | None = None, days: int = 30) -> dict:
    """Approval latency of releases decided in the last `days` days (for the dashboard metrics):
    {"decided", "median_hours", "max_hours", "waiting", "oldest_waiting_hours"}."""
    now = now or timezone.now()
    qs = ReleaseSignoff.objects.all()
    if system_ids is not None:
        qs = qs.filter(system_id__in=list(system_ids))
    decided = qs.filter(decided_at__gte=now - timedelta(days=days), decided_at__isnull=False)
    hours = [(d - r).total_seconds() / 3600 for r, d in decided.values_list("requested_at", "decided_at")]
    waiting = list(qs.filter(status=ReleaseSignoff.Status.PENDING).values_list("requested_at", flat=True))
    return {
        "decided": len(hours),
        "median_hours": round(median(hours), 2) if hours else None,
        "max_hours": round(max(hours), 2) if hours else None,
        "waiting": len(waiting),
        "oldest_waiting_hours": round(max((now - w).total_seconds() / 3600 for w in waiting), 2) if waiting else None,
    }


# ---------------------------------------------------------------- the whole picture (what a signer reviews)

# What a sign-off decision should see, in this order: (label, evidence kinds, for model systems only).
EVIDENCE_CHAIN = (
    ("Tests", ("test-report",), False),
    ("Scans", ("sast-scan", "iac-scan"), False),
    ("SBOM", ("sbom",), False),
    ("Provenance", ("provenance",), False),
    ("Model metrics", ("metrics",), True),
    ("Fairness", ("fairness",), True),
    ("Drift", ("drift",), True),
)
PER_KIND = 3  # newest pieces shown per row; the gate uses the nearest counted one


def release_evidence_chain(signoff: ReleaseSignoff, *, user) -> list[dict]:
    """The evidence recorded for the release's subjects (the artifact and what it inherits from along
    lineage, as the policy facts walk it), one row per kind of EVIDENCE_CHAIN: the nearest then newest
    pieces the user may see, each counted or not (and why), `items` empty when none is recorded."""
    depth = subject_chain(signoff.artifact)
    kinds = [k for _, ks, _ in EVIDENCE_CHAIN for k in ks]
    nearest: dict[int, int] = {}  # evidence id -> depth of the nearest chain artifact it is about
    for ev_id, artifact_id in EvidenceSubject.objects.filter(
        artifact_id__in=list(depth), evidence__kind__in=kinds
    ).values_list("evidence_id", "artifact_id"):
        nearest[ev_id] = min(nearest.get(ev_id, depth[artifact_id]), depth[artifact_id])
    superseded = Evidence.objects.filter(receipt_id=OuterRef("receipt_id"), generation__gt=OuterRef("generation"))
    rows = (
        scope_evidence(user, Evidence.objects.filter(pk__in=list(nearest)))
        .exclude(Exists(superseded))  # a re-parse of the same receipt replaced it
        .select_related("subject", "subject__system", "source", "source__system")
    )
    found: dict[str, list] = {}
    for e in rows:
        found.setdefault(e.kind, []).append(e)
    model = signoff.system.kind == "ml_model" or signoff.artifact.kind == "model-version"
    out = []
    for label, ks, model_only in EVIDENCE_CHAIN:
        pieces = sorted((e for k in ks for e in found.get(k, [])),
                        key=lambda e: (nearest[e.pk], -e.effective_at.timestamp(), -e.pk))  # fmt: skip
        items, used = [], set()  # the gate's facts take the nearest, newest counted piece of each kind
        for e in pieces[:PER_KIND]:
            counted, why = evidence_counting(e)
            items.append({"evidence": e, "counted": counted, "why": why, "inherited": nearest[e.pk] > 0,
                          "used": counted and e.kind not in used})  # fmt: skip
            if counted:
                used.add(e.kind)
        out.append({"label": label, "kinds": ks, "items": items, "more": max(0, len(pieces) - PER_KIND),
                    "expected": model or not model_only})  # fmt: skip
    return out


def release_gate_answer(signoff: ReleaseSignoff, *, user=None) -> dict:
    """The gate's whole answer for the release (the same function CI asks), grouped by rule:
    every failing control with its plain message, the warnings, and whether it may proceed.
    With `user`, items of controls outside the frameworks they work with (an auditor's
    engagements) are left out; the verdict stays the gate's."""

    decision = gate_for_subject(artifact=signoff.artifact, environment=signoff.environment)
    failing, warnings = decision.failing, decision.warnings
    codes = visible_framework_codes(user) if user is not None else ALL
    if codes is not ALL:
        visible = set(Control.objects.filter(framework__code__in=codes).values_list("control_id", flat=True))
        visible.add("release-signoff")  # the sign-off item is this page's own subject
        visible.add("")  # items of no control (evaluation pending) belong to no framework
        failing = [i for i in failing if i["control"] in visible]
        warnings = [i for i in warnings if i["control"] in visible]
    return {
        "allowed": decision.allowed,
        "evaluated": decision.evaluated,
        "evaluated_at": decision.evaluated_at,
        "pending": any(i["rule"] == EVALUATION_PENDING["rule"] for i in failing),
        "failing": gate_items_by_rule(failing),
        "failing_count": sum(1 for i in failing if i["control"]),
        "failing_rules": len({i["rule"] for i in failing if i["control"]}),
        "warnings": gate_items_by_rule(warnings),
        "warning_count": len(warnings),
    }
