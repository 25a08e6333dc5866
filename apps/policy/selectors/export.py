"""Results of a framework's controls, shaped for the OSCAL assessment-results export."""

from __future__ import annotations

from datetime import date

from django.db.models import Q

from apps.evidence.models import Evidence
from apps.inventory.models import System
from apps.policy.models import (
    Control,
    Framework,
)
from apps.policy.selectors.history import results_view
from apps.policy.services import current_rules

# ---------------------------------------------------------------- OSCAL export


def results_for_export(*, user, framework: Framework, system: System | None, as_of: date | None) -> list[dict]:
    """Results of a framework's controls (on a system or all visible), as export_assessment_results() takes them."""
    condition = Q(control__framework=framework)
    if system is not None:
        condition &= Q(system_id=system.pk)
    if as_of is None:
        condition_asof = condition
    else:
        condition_asof = Q(control_id__in=Control.objects.filter(framework=framework).values("id"))
        if system is not None:
            condition_asof &= Q(system_id=system.pk)
    views = results_view(user, condition_asof, as_of=as_of, limit=20000)
    evidence_ids = {e for v in views for e in v.evidence_ids}
    evidence = {e.pk: e for e in Evidence.objects.filter(pk__in=evidence_ids).only("id", "title", "sha256")}
    out = []
    for v in views:
        subject = (
            {"uri": v.artifact.uri, "kind": v.artifact.kind, "name": v.artifact.name}
            if v.artifact
            else {"uri": f"system:{v.system.slug}", "kind": "system", "name": v.system.name}
        )
        out.append({
            "control_id": v.control.control_id,
            "subject": subject,
            "status": v.status,
            "reason": v.reason,
            "message": v.message,
            "evaluated_at": v.at,
            "rule": v.rule_version.rule.key if v.rule_version else None,
            "rule_version": v.rule_version.version if v.rule_version else None,
            "evidence": [
                {"id": str(e), "title": evidence[e].title, "sha256": evidence[e].sha256}
                for e in v.evidence_ids if e in evidence
            ],
        })  # fmt: skip
    return out


def current_rule_count() -> int:
    return len(current_rules())
