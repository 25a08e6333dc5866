"""Frameworks and controls: lists, a control's page, its evidence and results."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date

from django.db.models import F, Func, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.accounts.scoping import (
    scope_by_system,
    scope_evidence,
    visible_framework_codes,
)
from apps.evidence.models import Evidence
from apps.policy.mappings import mappings_of
from apps.policy.models import (
    STATUS_ORDER,
    Control,
    ControlResult,
    CoverageSnapshot,
    Framework,
    ResultStatus,
    RuleVersion,
)
from apps.policy.selectors.history import results_view
from apps.policy.selectors.overview import _snapshot_day
from apps.policy.services import control_assessment_modes

# ---------------------------------------------------------------- controls


def framework_list() -> list[Framework]:
    return list(Framework.objects.order_by("code"))


def framework_list_for_user(*, user) -> list[Framework]:
    """The frameworks a menu offers the user: all, or for an auditor those of their open engagements."""
    codes = visible_framework_codes(user)
    frameworks = Framework.objects.order_by("code")
    return list(frameworks if codes is None else frameworks.filter(code__in=codes))


def control_list_for_user(*, user, framework: str = "", as_of: date | None = None) -> tuple[list[dict], date | None]:
    """Every control (of a framework) with how many visible systems pass, fail or miss it (from rollups)."""
    controls = Control.objects.select_related("framework").order_by("framework__code", "order")
    if framework:
        controls = controls.filter(framework__code=framework)
    codes = visible_framework_codes(user)
    if codes is not None:  # an auditor lists the controls of their engagements' frameworks
        controls = controls.filter(framework__code__in=codes)
    snapshots = scope_by_system(user, CoverageSnapshot.objects.all())
    day = _snapshot_day(snapshots, as_of or timezone.localdate())
    # (framework pk, control id): ids repeat across frameworks
    tallies: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if day:
        for framework_id, status_map in snapshots.filter(day=day).values_list("framework_id", "control_status"):
            for control_id, status in (status_map or {}).items():
                tallies[(framework_id, control_id)][status] += 1
    rules_by_ref: dict[str, set[str]] = defaultdict(set)  # a bare id or "<code>:<id>" -> rule keys
    for key, refs in RuleVersion.objects.filter(current_of__isnull=False).values_list("rule__key", "controls"):
        for ref in refs:
            rules_by_ref[ref].add(key)
    modes = control_assessment_modes()
    out = []
    for c in controls:
        t = tallies.get((c.framework_id, c.control_id), {})
        rules = sorted(rules_by_ref.get(c.control_id, set()) | rules_by_ref.get(c.ref, set()))
        assessment = modes.get(c.pk, Control.Assessment.NONE)
        out.append({"control": c, "rules": rules, "assessment": assessment,
                    "assessment_label": Control.Assessment(assessment).label, **{
            "pass": t.get("pass", 0), "fail": t.get("fail", 0), "missing": t.get("missing", 0),
            "excepted": t.get("excepted", 0)}})  # fmt: skip
    return out, day


class AmbiguousControlRef(Http404):
    """A bare control id that several imported frameworks share; `controls` are the candidates."""

    def __init__(self, ref: str, controls: list[Control]):
        super().__init__(f"control id {ref[:100]!r} is in several frameworks; name one as <framework code>:<id>")
        self.controls = controls


def control_get(ref: str) -> Control:
    """The control a page reference names; else 404.

    "<code>:<id>" names one framework's control. A bare id names the control of that id if only
    one framework has it, or the shipped framework's when an imported catalog reuses a shipped id
    (so shipped controls keep their URLs); otherwise it is ambiguous."""
    controls = list(Control.objects.for_ref(ref).select_related("framework", "parent")[:50])
    if not controls:
        raise Http404(f"no control {ref[:100]!r}")
    shipped = [c for c in controls if c.framework.origin == Framework.Origin.SHIPPED]
    if len(controls) == 1 or len(shipped) == 1:
        return shipped[0] if len(controls) > 1 else controls[0]
    raise AmbiguousControlRef(ref, controls)


def control_evidence_ids(ref: str) -> QuerySet:
    """Ids of the evidence the current results of a control used (a subquery: the evidence list's `?control=`).

    `ref` names the control as anywhere else: its database id (digits), "<framework code>:<id>" for one
    framework's control (Control.ref, what the control page links with), or a bare id for every
    framework's control of that id."""
    ref = ref.strip()
    by_pk = re.fullmatch(r"[0-9]{1,18}", ref)  # a bigint; longer digit strings are no id
    controls = Control.objects.filter(pk=int(ref)) if by_pk else Control.objects.for_ref(ref)
    return (
        ControlResult.objects.filter(control__in=controls.values("pk"))
        .annotate(evidence_id=Func(F("evidence_ids"), function="unnest"))
        .values("evidence_id")
    )


FRAMEWORK_SHORT = {"hipaa": "HIPAA", "gdpr": "GDPR", "soc2": "SOC 2", "eu-ai-act": "EU AI Act", "sr-11-7": "SR 11-7"}


def control_cited(control: Control) -> str:
    """How people cite a control outside its framework's page, e.g. "HIPAA 164.312(b)", "SOC 2 CC7.2"."""
    prefix = FRAMEWORK_SHORT.get(control.framework.code, control.framework.code)
    return control.label if control.label.startswith(prefix) else f"{prefix} {control.label}"


def control_mappings(control: Control) -> tuple[list[dict], dict[str, Control]]:
    """The control's mapped requirements (apps/policy/mappings.py) with their Control rows, and the
    controls whose rule results satisfy this one, by every ref a rule may name them by."""
    entries = mappings_of(control.ref)
    others = {c.ref: c for c in Control.objects.for_refs([e["other"] for e in entries]).select_related("framework")}
    out = [{**e, "control": others[e["other"]], "cited": control_cited(others[e["other"]])}
           for e in entries if e["other"] in others]  # fmt: skip
    sources: dict[str, Control] = {}
    for e in out:
        if e["satisfied_by_other"]:
            sources[e["control"].ref] = sources[e["control"].control_id] = e["control"]
    return out, sources


def control_detail_for_user(*, user, control: Control, as_of: date | None = None) -> dict:
    """A control's rules, its results across the systems the user sees, and the evidence they used.

    Each result says where its status comes from: `via` is None when the rule names this control,
    else the mapped control (of another framework) the rule names and whose result this is."""
    mappings, sources = control_mappings(control)
    rules = list(
        RuleVersion.objects.filter(current_of__isnull=False, controls__overlap=control.refs + list(sources))
        .select_related("rule")
        .order_by("rule__key")
    )
    for rule in rules:
        rule.via = _via(rule, control, sources)
    views = results_view(user, Q(control_id=control.pk), as_of=as_of)
    views = [v for v in views if v.status != ResultStatus.NOT_APPLICABLE]
    for v in views:
        v.via = _via(v.rule_version, control, sources) if v.rule_version else None
    views.sort(key=lambda v: (STATUS_ORDER[v.status], v.system.name if v.system else "", -(v.artifact_id or 0)))
    evidence_ids = sorted({e for v in views for e in v.evidence_ids})[-200:]
    evidence = list(
        scope_evidence(user, Evidence.objects.filter(pk__in=evidence_ids))
        .select_related("system")
        .only("id", "title", "kind", "verdict", "effective_at", "system__name", "system__slug")
        .order_by("-effective_at")[:50]
    )
    # Each result row links to the evidence that decided it, among what the user may open.
    decided = {e.pk: e for e in evidence}
    missing = {e for v in views for e in v.evidence_ids} - decided.keys()
    if missing:
        decided.update(
            (e.pk, e)
            for e in scope_evidence(user, Evidence.objects.filter(pk__in=missing)).only("id", "title", "kind")[:500]
        )
    for v in views:
        v.decided_by = [decided[e] for e in v.evidence_ids if e in decided]
    counts: dict[str, int] = defaultdict(int)
    for v in views:
        counts[v.status] += 1
    assessment = control_assessment_modes().get(control.pk, Control.Assessment.NONE)
    return {"rules": rules, "results": views, "evidence": evidence, "counts": dict(counts),
            "assessment": Control.Assessment(assessment), "mappings": mappings}  # fmt: skip


def _via(version: RuleVersion, control: Control, sources: dict[str, Control]) -> str | None:
    """None when the rule version names the control; else how the mapped control it names is cited."""
    if set(version.controls) & set(control.refs):
        return None
    names = sorted({control_cited(sources[ref]) for ref in version.controls if ref in sources})
    return ", ".join(names) or "a mapped requirement"
