"""The built-in search targets: evidence, artifacts, systems (each through its scoped selector)."""

from apps.evidence.selectors import artifact_list_for_user, evidence_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.search.registry import SearchTarget, register

EVIDENCE_FIELDS = ("title", "kind", "format", "verdict_reason")
ARTIFACT_FIELDS = ("uri", "name", "kind", "digest")
SYSTEM_FIELDS = ("name", "slug", "description")

register(
    SearchTarget(
        key="evidence",
        label="Evidence",
        fields=EVIDENCE_FIELDS,
        queryset_for_user=lambda user: evidence_list_for_user(user=user).order_by(),
        title=lambda e: e.title,
        detail=lambda e: f"{e.kind} · {e.verdict} · {e.effective_at:%Y-%m-%d}",
    )
)
register(
    SearchTarget(
        key="artifacts",
        label="Artifact",
        fields=ARTIFACT_FIELDS,
        queryset_for_user=lambda user: artifact_list_for_user(user=user),
        title=lambda a: a.name or a.uri,
        detail=lambda a: f"{a.kind} · {a.uri}",
    )
)
register(
    SearchTarget(
        key="systems",
        label="System",
        fields=SYSTEM_FIELDS,
        queryset_for_user=lambda user: system_list_for_user(user=user).order_by(),
        title=lambda s: s.name,
        detail=lambda s: f"{s.get_kind_display()} · {s.get_risk_tier_display()} risk",
    )
)
