"""A pack's scope: parsed once from a form or the API, checked against what the requester may see.

Four kinds (Pack.ScopeKind): a release or deployment with everything upstream of it through
lineage; a system over a period; a framework across the systems the requester sees (over
an optional period); an audit engagement (its systems, its observation window). The
normalized parameters are stored on the Pack as JSON, so a build later sees exactly what
was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.accounts.scoping import can_see_system, is_scoped_auditor
from apps.engagements.models import Engagement
from apps.evidence.models import Artifact
from apps.evidence.selectors import artifact_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.packs.models import ScopeKind
from apps.policy.models import Framework


@dataclass(frozen=True)
class Scope:
    """What a pack covers: kind, normalized parameters, a label, and the period (if any)."""

    kind: str
    params: dict
    label: str
    period_start: datetime | None = None
    period_end: datetime | None = None


def _when(value, *, name: str, end: bool = False) -> datetime | None:
    """A date (a whole day; an end date includes that day) or an ISO datetime; None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        parsed = parse_datetime(text)
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
        day = parse_date(text)
        if day is None:
            raise ValidationError(f"{name}: {text!r} is not a date (YYYY-MM-DD) or an ISO date-time")
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start + timedelta(days=1) if end else start


def _period(start, end) -> tuple[datetime | None, datetime | None]:
    start_at, end_at = _when(start, name="start"), _when(end, name="end", end=True)
    if start_at and end_at and end_at <= start_at:
        raise ValidationError("the period must end after it starts")
    return start_at, end_at


def _period_label(start: datetime | None, end: datetime | None) -> str:
    if not start and not end:
        return "all time"
    first = f"{start:%Y-%m-%d}" if start else "the beginning"
    last = f"{(end - timedelta(seconds=1)):%Y-%m-%d}" if end else "now"
    return f"{first} to {last}"


def scope_parse(*, user, kind: str, params: dict) -> Scope:
    """Check and normalize a requested scope; ValidationError says what is wrong, PermissionDenied
    when the requester may not see what they asked for (an auditor asks only within an open engagement)."""
    if kind not in ScopeKind.values:
        raise ValidationError(f"scope kind must be one of {', '.join(ScopeKind.values)}")
    if kind == ScopeKind.ARTIFACT:
        return _artifact_scope(user, params)
    if kind == ScopeKind.SYSTEM:
        return _system_scope(user, params)
    if kind == ScopeKind.FRAMEWORK:
        return _framework_scope(user, params)
    return _engagement_scope(user, params)


def _int(params: dict, name: str) -> int:
    try:
        return int(params.get(name))
    except (TypeError, ValueError):
        raise ValidationError(f"{name}: give the id (a number)") from None


def _artifact_scope(user, params: dict) -> Scope:

    artifact = None
    if params.get("artifact") not in (None, ""):
        artifact = artifact_list_for_user(user=user).filter(pk=_int(params, "artifact")).first()
    elif params.get("uri"):
        artifact = artifact_list_for_user(user=user).filter(uri=str(params["uri"]).strip()).first()
    else:
        raise ValidationError("artifact: give the id or the uri of a release or deployment")
    if artifact is None:
        raise ValidationError("artifact: no such artifact among those you may see")
    if artifact.system_id is not None and not can_see_system(user, artifact.system_id):
        raise PermissionDenied("you may not see this artifact's system")
    kind_label = Artifact.Kind(artifact.kind).label if artifact.kind in Artifact.Kind.values else artifact.kind
    return Scope(
        kind=ScopeKind.ARTIFACT,
        params={"artifact": artifact.pk, "uri": artifact.uri},
        label=f"{kind_label} {artifact.name or artifact.uri}"[:300],
    )


def _system_scope(user, params: dict) -> Scope:

    slug = str(params.get("system") or "").strip()
    if not slug:
        raise ValidationError("system: give the system's slug")
    system = system_list_for_user(user=user).filter(slug=slug).first()
    if system is None:
        raise ValidationError(f"system: no system {slug!r} among those you may see")
    start, end = _period(params.get("start"), params.get("end"))
    if start is None or end is None:
        raise ValidationError("a system pack covers a period: give start and end dates")
    return Scope(
        kind=ScopeKind.SYSTEM,
        params={"system": system.slug, "start": start.isoformat(), "end": end.isoformat()},
        label=f"System {system.name}, {_period_label(start, end)}"[:300],
        period_start=start,
        period_end=end,
    )


def _framework_scope(user, params: dict) -> Scope:

    code = str(params.get("framework") or "").strip()
    framework = Framework.objects.filter(code=code).first()
    if framework is None:
        raise ValidationError(f"framework: no framework {code!r}")
    start, end = _period(params.get("start"), params.get("end"))
    normalized = {"framework": framework.code}
    if start:
        normalized["start"] = start.isoformat()
    if end:
        normalized["end"] = end.isoformat()
    who = "systems you may see" if is_scoped_auditor(user) else "all systems"
    return Scope(
        kind=ScopeKind.FRAMEWORK,
        params=normalized,
        label=f"{framework.title} across {who}, {_period_label(start, end)}"[:300],
        period_start=start,
        period_end=end,
    )


def _engagement_scope(user, params: dict) -> Scope:

    engagement = Engagement.objects.filter(pk=_int(params, "engagement")).first()
    if engagement is None:
        raise ValidationError("engagement: no such engagement")
    if is_scoped_auditor(user) and not engagement.auditors.filter(pk=user.pk).exists():
        raise PermissionDenied("you are not an auditor of this engagement")
    for system_id in engagement.systems.values_list("pk", flat=True):
        if not can_see_system(user, system_id):
            raise PermissionDenied("you may not see every system of this engagement now")
    return Scope(
        kind=ScopeKind.ENGAGEMENT,
        params={"engagement": engagement.pk},
        label=f"Engagement {engagement.name}"[:300],
        period_start=engagement.observation_start,
        period_end=engagement.observation_end,
    )


def scope_of_pack(pack) -> Scope:
    """The stored scope of a pack, as the build reads it (no re-validation of what was checked at request)."""
    return Scope(
        kind=pack.scope_kind,
        params=dict(pack.scope),
        label=pack.scope_label,
        period_start=pack.period_start,
        period_end=pack.period_end,
    )


def period_label(scope: Scope) -> str:
    return _period_label(scope.period_start, scope.period_end)
