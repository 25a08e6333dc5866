"""Input of a request: ExceptionInput, and `exception_validate()` turning it into Cleaned values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone

from apps.accounts.scoping import can_see_system, scope_evidence
from apps.approvals.expiry import expiry_day, latest_expiry
from apps.evidence.models import Artifact, Evidence
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import can_request, covered_results
from apps.exceptions.tiers import tier_policy
from apps.inventory.models import System
from apps.policy.models import Control, ResultStatus

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


def _validate_control(ref, err) -> Control | None:
    """The one control a request names, or None after saying why."""
    # A control id, or "<framework code>:<id>" where frameworks share the id (ids are unique per framework).
    controls = list(Control.objects.for_ref((ref or "").strip()).select_related("framework")[:2])
    control = controls[0] if len(controls) == 1 else None
    if not controls:
        err("control", f"no control {ref!r}; use a control id such as gdpr-35-1")
    elif control is None:
        err("control", f"control id {ref!r} is in several frameworks; name one as <framework code>:<id>")
    return control


def _validate_system(actor, slug, err) -> System | None:
    """The system a request is for, if the actor sees it; PermissionDenied if they may not request for it."""
    system = System.objects.filter(slug=(slug or "").strip()).first()
    if system is None or not can_see_system(actor, system.pk):
        err("system", f"no system {slug!r}")
        return None
    if not can_request(actor, system):
        raise PermissionDenied(
            f"You cannot request exceptions for {system.name}: "
            "its engineers, its risk owners and compliance officers can."
        )
    return system


def _validate_expiry(expires_at, tier, now: datetime, err) -> None:
    """An aware expiry in the future, no later than the tier allows."""
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


def _validate_evidence(actor, evidence_ids: list[int], system: System, err) -> None:
    """Every cited piece of evidence is the system's and visible to the actor."""
    visible = set(
        scope_evidence(actor, Evidence.objects.filter(pk__in=evidence_ids, system=system)).values_list(
            "pk", flat=True
        )
    )
    missing = [e for e in evidence_ids if e not in visible]
    if missing:
        err("evidence_ids", f"not evidence of {system.slug} that you can see: {', '.join(map(str, missing))}")


def _validate_scope(control, system, artifact, exclude_pk, renewal_of_pk, err) -> None:
    """Something on the scope fails, and no other open or approved request already covers it."""
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

    control = _validate_control(data.control, err)
    system = _validate_system(actor, data.system, err)
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
    _validate_expiry(expires_at, tier, now, err)
    evidence_ids = sorted({int(e) for e in data.evidence_ids or []})
    if evidence_ids and system is not None:
        _validate_evidence(actor, evidence_ids, system, err)
    if control is not None and system is not None and not errors.get("artifact"):
        _validate_scope(control, system, artifact, exclude_pk, renewal_of_pk, err)
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
