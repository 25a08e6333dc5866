"""The built-in search targets: evidence, artifacts, systems, controls, exceptions (each through its scoped selector).

Scoping comes from apps.accounts.scoping (directly or through the owning app's selector): an
auditor finds only what their open engagements show — their systems, evidence of the observation
window, controls of the engagement's frameworks, exceptions of their systems alive in the window.
"""

from apps.accounts.scoping import visible_framework_codes
from apps.evidence.selectors import artifact_list_for_user, evidence_list_for_user
from apps.exceptions.selectors import exception_queryset_for_user
from apps.inventory.selectors import system_list_for_user
from apps.policy.models import Control
from apps.search.content import content_best, content_matching_ids
from apps.search.registry import ContentSource, SearchTarget, register

EVIDENCE_FIELDS = ("title", "kind", "format", "verdict_reason")
ARTIFACT_FIELDS = ("uri", "name", "kind", "digest")
SYSTEM_FIELDS = ("name", "slug", "description")
CONTROL_FIELDS = ("control_id", "label", "title", "description", "group_title")
EXCEPTION_FIELDS = ("justification", "compensating_controls", "review_reason", "revoke_reason")


def control_list_for_search(user):
    """Controls of the frameworks the user works with (an auditor: their engagements' frameworks)."""
    qs = Control.objects.select_related("framework").order_by()
    codes = visible_framework_codes(user)
    if codes is not None:
        qs = qs.filter(framework__code__in=codes)
    return qs


def exception_list_for_search(user):
    """Exceptions the exceptions pages show the user (for an auditor: per engagement, its systems and
    frameworks, alive in its observation window; see exception_queryset_for_user)."""
    return exception_queryset_for_user(user=user).order_by()


register(
    SearchTarget(
        key="evidence",
        label="Evidence",
        fields=EVIDENCE_FIELDS,
        queryset_for_user=lambda user: evidence_list_for_user(user=user).order_by(),
        title=lambda e: e.title,
        detail=lambda e: f"{e.kind} · {e.verdict} · {e.effective_at:%Y-%m-%d}",
        # and the words inside it: test names, failure messages, rule ids, paths, purls, resource addresses
        content=ContentSource(matching_ids=content_matching_ids, best=content_best),
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
register(
    SearchTarget(
        key="controls",
        label="Control",
        fields=CONTROL_FIELDS,
        queryset_for_user=control_list_for_search,
        title=lambda c: f"{c.label} {c.title}",
        detail=lambda c: f"{c.framework.title} · {c.control_id}",
    )
)
register(
    SearchTarget(
        key="exceptions",
        label="Exception",
        fields=EXCEPTION_FIELDS,
        queryset_for_user=exception_list_for_search,
        title=lambda x: f"{x.reference} {x.control.label} {x.control.title}",
        detail=lambda x: f"{x.system.name} · {x.get_status_display()} · expires {x.expires_at:%Y-%m-%d}",
    )
)
