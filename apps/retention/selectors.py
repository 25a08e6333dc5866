"""Reads of retention: when evidence may go, what holds it, the retention report.

"Kept until" is derived, never stored: one SQL expression built from the policy in force
(`evidence_kept_until_expr`), so a changed schedule applies at once to every page, the
report and the disposal task alike. A receipt's raw body is kept until the latest
kept-until of the evidence parsed from it (every generation); a receipt with no evidence
(a failed parse) for `default_days` from its reception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.scoping import scope_by_system
from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.retention.models import DataPolicy, Disposal, IdentifierFlag, LegalHold, ReceiptRedaction
from apps.retention.policy import RetentionPolicy, retention_policy

# Receipts in these states hold their raw body for a reason other than retention (work in flight).
SETTLED = (Receipt.State.PARSED, Receipt.State.FAILED)


class AddDays(Func):
    """timestamp + n days, as one SQL expression (make_interval)."""

    arity = 2
    output_field = DateTimeField()

    def as_sql(self, compiler, connection, **extra_context):
        when, days = self.get_source_expressions()
        when_sql, when_params = compiler.compile(when)
        days_sql, days_params = compiler.compile(days)
        return f"({when_sql} + make_interval(days => {days_sql}))", [*when_params, *days_params]


def _matches(schedule, prefix: str) -> Q:
    q = Q()
    if schedule.kinds:
        q &= Q(**{f"{prefix}kind__in": schedule.kinds})
    if schedule.exclude_kinds:
        q &= ~Q(**{f"{prefix}kind__in": schedule.exclude_kinds})
    if schedule.frameworks:
        q &= Q(**{f"{prefix}system__frameworks__overlap": list(schedule.frameworks)})
    return q


def evidence_days_expr(policy: RetentionPolicy | None = None, prefix: str = ""):
    """SQL: the retention days of an evidence row (longest matching schedule, else the default)."""
    policy = policy or retention_policy()
    cases = [
        Case(When(_matches(s, prefix), then=Value(s.days)), default=None, output_field=IntegerField())
        for s in policy.schedules
    ]
    if not cases:
        return Value(policy.default_days)
    longest = cases[0] if len(cases) == 1 else Greatest(*cases)  # PostgreSQL's GREATEST skips NULLs
    return Coalesce(longest, Value(policy.default_days), output_field=IntegerField())


def evidence_kept_until_expr(policy: RetentionPolicy | None = None, prefix: str = ""):
    """SQL: when an evidence row may go. The schedule runs from the LATER of its effective time (which
    the sender chooses) and the time the portal received it: a past date never shortens retention."""
    start = Greatest(F(f"{prefix}effective_at"), F(f"{prefix}received_at"))
    return AddDays(start, evidence_days_expr(policy, prefix))


def retention_start(evidence: Evidence) -> datetime:
    """Where an evidence row's retention schedule starts: the later of effective and received time."""
    return max(evidence.effective_at, evidence.received_at)


def receipt_kept_until_expr(policy: RetentionPolicy | None = None):
    """SQL over Receipt: when its raw body may be disposed of."""
    policy = policy or retention_policy()
    latest = (
        Evidence.objects.filter(receipt=OuterRef("pk"))
        .annotate(k=evidence_kept_until_expr(policy))
        .order_by("-k")
        .values("k")[:1]
    )
    return Coalesce(
        Subquery(latest, output_field=DateTimeField()),
        AddDays(F("received_at"), Value(policy.default_days)),
        output_field=DateTimeField(),
    )


def active_holds() -> list[LegalHold]:
    return list(LegalHold.objects.filter(status=LegalHold.Status.ACTIVE).select_related("system").order_by("id"))


def hold_evidence_q(hold: LegalHold, prefix: str = "") -> Q:
    """Evidence rows the hold covers (prefix: path from the queried model to Evidence)."""
    if hold.scope == LegalHold.Scope.SYSTEM:
        return Q(**{f"{prefix}system_id": hold.system_id})
    if hold.scope == LegalHold.Scope.PERIOD:
        q = Q(**{f"{prefix}effective_at__gte": hold.period_start, f"{prefix}effective_at__lt": hold.period_end})
        if hold.system_id:
            q &= Q(**{f"{prefix}system_id": hold.system_id})
        return q
    return Q(**{f"{prefix}pk__in": list(hold.evidence_ids)})


def _hold_receipt_q(hold: LegalHold) -> Q:
    """Receipts the hold covers through their evidence, or (no evidence yet) through their own system and time."""
    evidence_q = Exists(Evidence.objects.filter(hold_evidence_q(hold), receipt=OuterRef("pk")))
    if hold.scope == LegalHold.Scope.EVIDENCE:
        return Q(evidence_q)
    own = (
        Q(system_id=hold.system_id) | Q(system__isnull=True, source__system_id=hold.system_id)
        if hold.system_id
        else Q()
    )
    if hold.scope == LegalHold.Scope.PERIOD:
        own &= Q(received_at__gte=hold.period_start, received_at__lt=hold.period_end)
    no_evidence = ~Exists(Evidence.objects.filter(receipt=OuterRef("pk")))
    return Q(evidence_q) | (own & no_evidence)


def held_receipts_q(holds: list[LegalHold] | None = None) -> Q:
    """Receipts under at least one active hold (Q(pk__in=[]) when there is none)."""
    holds = active_holds() if holds is None else holds
    q = Q(pk__in=[])
    for hold in holds:
        q |= _hold_receipt_q(hold)
    return q


def receipts_due(*, now: datetime, limit: int | None = None) -> QuerySet[Receipt]:
    """Settled receipts whose raw body is past retention, not disposed of and not held; oldest first."""
    qs = (
        Receipt.objects.filter(state__in=SETTLED)
        .exclude(Exists(Disposal.objects.filter(receipt=OuterRef("pk"))))
        .annotate(kept_until=receipt_kept_until_expr())
        .filter(kept_until__lte=now)
        .exclude(held_receipts_q())
        .order_by("kept_until", "id")
    )
    return qs[:limit] if limit else qs


def holds_covering_receipt(receipt: Receipt, holds: list[LegalHold] | None = None) -> list[LegalHold]:
    holds = active_holds() if holds is None else holds
    return [h for h in holds if Receipt.objects.filter(_hold_receipt_q(h), pk=receipt.pk).exists()]


# ---------------------------------------------------------------- one piece of evidence


@dataclass
class EvidenceRetention:
    """What the evidence page shows: kept until when, under which schedule, held or disposed of."""

    kept_until: datetime
    schedule: str
    days: int
    receipt_kept_until: datetime  # the raw body goes at the latest of its evidence
    holds: list[LegalHold] = field(default_factory=list)
    disposal: Disposal | None = None
    redaction: ReceiptRedaction | None = None
    flag: IdentifierFlag | None = None

    @property
    def past_due(self) -> bool:
        return self.disposal is None and self.receipt_kept_until <= timezone.now()


def evidence_retention(evidence: Evidence) -> EvidenceRetention:
    """Retention facts of one piece of evidence (a handful of small queries)."""
    policy = retention_policy()
    frameworks = evidence.system.frameworks if evidence.system_id else []
    days, schedule = policy.days_for(evidence.kind, frameworks)
    receipt_until = (
        Receipt.objects.filter(pk=evidence.receipt_id)
        .annotate(k=receipt_kept_until_expr(policy))
        .values_list("k", flat=True)
        .first()
    )
    return EvidenceRetention(
        kept_until=retention_start(evidence) + timedelta(days=days),
        schedule=schedule,
        days=days,
        receipt_kept_until=receipt_until,
        holds=holds_covering_receipt(evidence.receipt),
        disposal=Disposal.objects.filter(receipt_id=evidence.receipt_id).first(),
        redaction=ReceiptRedaction.objects.filter(receipt_id=evidence.receipt_id).first(),
        flag=IdentifierFlag.objects.filter(evidence=evidence).first(),
    )


# ---------------------------------------------------------------- the report


@dataclass
class RetentionReport:
    """What will be disposed of soon, what is held and why, what was disposed of (one system or all visible)."""

    now: datetime
    system: object | None
    due_now: list[dict]
    due_30: list[dict]
    due_90: list[dict]
    held: list[dict]
    holds: list[LegalHold]
    disposed_recent: list[Disposal]
    policy: RetentionPolicy
    limit: int

    @property
    def counts(self) -> dict[str, int]:
        return {
            "due_now": len(self.due_now),
            "due_30": len(self.due_30),
            "due_90": len(self.due_90),
            "held": len(self.held),
            "holds": len(self.holds),
        }

    def as_json(self) -> dict:
        """Plain JSON for evidence packs (dates as ISO 8601)."""

        def row(r):
            return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items() if k != "receipt"}

        return {
            "generated_at": self.now.isoformat(),
            "system": self.system.slug if self.system else None,
            # The file name, never `source`: that is where the file lives on the server.
            "policy": {"file": self.policy.file_name, "sha256": self.policy.digest},
            "due_now": [row(r) for r in self.due_now],
            "due_within_30_days": [row(r) for r in self.due_30],
            "due_within_90_days": [row(r) for r in self.due_90],
            "held": [row(r) for r in self.held],
            "holds": [
                {
                    "reference": h.reference,
                    "scope": h.scope,
                    "covers": h.describe(),
                    "reason": h.reason,
                    "placed_by": h.placed_by.username,
                    "placed_at": h.placed_at.isoformat(),
                }
                for h in self.holds
            ],
            "disposed_last_90_days": [
                {
                    "receipt": d.receipt_id,
                    "sha256": d.sha256,
                    "kept_until": d.kept_until.isoformat(),
                    "schedule": d.schedule,
                    "disposed_at": d.disposed_at.isoformat(),
                    "evidence": d.evidence_ids,
                    "blob_deleted": d.blob_deleted,
                }
                for d in self.disposed_recent
            ],
        }


def _receipt_rows(qs, *, holds_by_receipt=None) -> list[dict]:
    rows = []
    for r in qs:
        rows.append(
            {
                "receipt": r.pk,
                "sha256": r.sha256,
                "kept_until": r.kept_until,
                "system": r.system_slug or "",
                "evidence": r.first_evidence_title or "",
                "evidence_id": r.first_evidence_id,
                "kind": r.first_evidence_kind or "",
                "holds": (holds_by_receipt or {}).get(r.pk, []),
            }
        )
    return rows


def retention_report(system=None, now: datetime | None = None, *, user=None, limit: int = 500) -> RetentionReport:
    """The retention report of one system (or every system the user may see): due now and in the next
    30 and 90 days, what is held and by which hold, what was disposed of in the last 90 days.

    Packs call `retention_report(system, now)`; pages pass the user so scoping applies."""
    now = now or timezone.now()
    policy = retention_policy()
    first = Evidence.objects.filter(receipt=OuterRef("pk")).order_by("generation", "ordinal")
    base = (
        Receipt.objects.filter(state__in=SETTLED)
        .exclude(Exists(Disposal.objects.filter(receipt=OuterRef("pk"))))
        .annotate(
            kept_until=receipt_kept_until_expr(policy),
            system_slug=Coalesce(F("system__slug"), F("source__system__slug")),
            first_evidence_id=Subquery(first.values("pk")[:1]),
            first_evidence_title=Subquery(first.values("title")[:1]),
            first_evidence_kind=Subquery(first.values("kind")[:1]),
        )
    )
    disposed = Disposal.objects.filter(disposed_at__gte=now - timedelta(days=90))
    holds = active_holds()
    if system is not None:
        in_system = Q(system=system) | Q(system__isnull=True, source__system=system)
        base = base.filter(in_system | Exists(Evidence.objects.filter(receipt=OuterRef("pk"), system=system)))
        disposed = disposed.filter(system=system)
        holds = [h for h in holds if h.system_id in (None, system.pk) or h.scope == LegalHold.Scope.EVIDENCE]
    if user is not None:
        base = scope_by_system(user, base.annotate(owner_system=Coalesce("system", "source__system")), "owner_system")
        disposed = scope_by_system(user, disposed)
    held_q = held_receipts_q(holds)
    not_held = base.exclude(held_q)
    due_now = not_held.filter(kept_until__lte=now).order_by("kept_until", "id")[:limit]
    due_30 = not_held.filter(kept_until__gt=now, kept_until__lte=now + timedelta(days=30)).order_by("kept_until", "id")[
        :limit
    ]
    due_90 = not_held.filter(
        kept_until__gt=now + timedelta(days=30), kept_until__lte=now + timedelta(days=90)
    ).order_by("kept_until", "id")[:limit]
    held_rows = list(base.filter(held_q).order_by("kept_until", "id")[:limit])
    holds_by_receipt = {r.pk: [h.reference for h in holds_covering_receipt(r, holds)] for r in held_rows}
    if system is not None:
        referenced = {ref for refs in holds_by_receipt.values() for ref in refs}
        holds = [h for h in holds if h.reference in referenced or h.system_id == system.pk]
    return RetentionReport(
        now=now,
        system=system,
        due_now=_receipt_rows(due_now),
        due_30=_receipt_rows(due_30),
        due_90=_receipt_rows(due_90),
        held=_receipt_rows(held_rows, holds_by_receipt=holds_by_receipt),
        holds=holds,
        disposed_recent=list(disposed.order_by("-disposed_at", "-id")[:limit]),
        policy=policy,
        limit=limit,
    )


def hold_list(*, status: str | None = None) -> QuerySet[LegalHold]:
    qs = LegalHold.objects.select_related("system", "placed_by", "released_by")
    return qs.filter(status=status) if status else qs


def hold_get(*, pk: int) -> LegalHold:
    return get_object_or_404(hold_list(), pk=pk)


def data_policy_for(system) -> DataPolicy | None:
    return DataPolicy.objects.filter(system=system).first()


def redaction_rules_for(*, system_id: int | None, channel: str, policy: RetentionPolicy | None = None) -> list:
    """The redaction rules a system's data policy switches on for this channel (hot path: one indexed query)."""
    if system_id is None:
        return []
    policy = policy or retention_policy()
    if not any(channel in r.channels for r in policy.redaction.values()):
        return []  # no rule could apply: skip the query
    names = DataPolicy.objects.filter(system_id=system_id).values_list("redaction_rules", flat=True).first() or []
    return [policy.redaction[n] for n in names if n in policy.redaction and channel in policy.redaction[n].channels]
