"""HTML pages of the policy app: controls, rules (with the editor), catalog import and OSCAL export."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from apps.accounts.scoping import can_see_system
from apps.common.sorting import sort_read
from apps.inventory.models import System
from apps.policy.engine import RuleSyntaxError, compile_rule
from apps.policy.forms import AsOfForm, CatalogImportForm, RuleForm, _names
from apps.policy.models import Framework
from apps.policy.oscal import export_assessment_results
from apps.policy.rulesets import RuleSetError
from apps.policy.selectors import (
    AmbiguousControlRef,
    as_of_for_user,
    control_detail_for_user,
    control_get,
    control_list_for_user,
    dry_run_get_for_user,
    framework_list_for_user,
    results_for_export,
    rule_get,
    rule_list,
    rule_versions,
)
from apps.policy.services import CONTROL_PANELS, can_edit_rules, catalog_import, rule_dry_run_request, rule_save


def _as_of(request):
    form = AsOfForm(request.GET or None)
    return form, as_of_for_user(request.user, form.day())


CONTROLS_PAGE_SIZE = 50
# The columns the controls list sorts by (?sort=); its rows are built in Python, so each sorts by a key.
CONTROL_SORT_COLUMNS = {
    "control": lambda row: (row["control"].framework.code, row["control"].order),
    "framework": lambda row: row["control"].framework.code,
    "assessed": lambda row: row["assessment_label"],
    "pass": lambda row: row["pass"],
    "fail": lambda row: row["fail"],
    "missing": lambda row: row["missing"],
    "excepted": lambda row: row["excepted"],
}


@login_required
def control_list(request):
    form, as_of = _as_of(request)
    framework = request.GET.get("framework", "")
    failing = request.GET.get("failing") == "1"
    rows, day = control_list_for_user(user=request.user, framework=framework, as_of=as_of)
    if failing:  # "failing only": a control at least one visible system fails
        rows = [row for row in rows if row["fail"]]
    sort = sort_read(request.GET, CONTROL_SORT_COLUMNS, default="control")
    page = Paginator(sort.sorted(rows), CONTROLS_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "policy/control_list.html",
        {"page": page, "query": query.urlencode(), "sort": sort, "failing": failing,
         "frameworks": framework_list_for_user(user=request.user), "framework": framework, "form": form,
         "as_of": as_of, "day": day, "can_edit": can_edit_rules(request.user)},
    )  # fmt: skip


@login_required
def control_detail(request, control_id):
    form, as_of = _as_of(request)
    try:
        control = control_get(control_id)
    except AmbiguousControlRef as exc:  # a bare id several imported frameworks share: let the reader choose
        context = {"ref": control_id, "controls": exc.controls}
        return render(request, "policy/control_choose.html", context, status=300)
    detail = control_detail_for_user(user=request.user, control=control, as_of=as_of)
    # apps above policy add their sections (documents and attestations) through the registered panels
    panels = [mark_safe(panel(request, control)) for panel in CONTROL_PANELS]  # noqa: S308 - rendered templates
    context = {"control": control, "form": form, "as_of": as_of, "panels": panels, **detail}
    return render(request, "policy/control_detail.html", context)


_SEVERITIES = ("low", "medium", "high", "critical")
# The columns the rules list sorts by (?sort=); rules are few and listed whole, so each sorts by a key.
RULE_SORT_COLUMNS = {
    "rule": lambda rule: rule.key,
    "mode": lambda rule: (rule.current.mode, rule.key),
    "severity": lambda rule: (_SEVERITIES.index(rule.current.severity), rule.key),
}


@login_required
def rule_index(request):
    sort = sort_read(request.GET, RULE_SORT_COLUMNS, default="rule")
    return render(
        request,
        "policy/rule_list.html",
        {"rules": sort.sorted(rule_list()), "sort": sort, "can_edit": can_edit_rules(request.user)},
    )


@login_required
def rule_detail(request, key):
    rule = rule_get(key)
    return render(
        request,
        "policy/rule_detail.html",
        {"rule": rule, "versions": rule_versions(rule), "can_edit": can_edit_rules(request.user)},
    )


def _ensure_editor(user) -> None:
    if not can_edit_rules(user):
        raise PermissionDenied("Only compliance officers and platform admins change rules.")


@login_required
def rule_edit(request, key=None):
    """The rule editor: new (key None) or a new version of an existing rule."""
    _ensure_editor(request.user)
    rule = rule_get(key) if key else None
    initial = RuleForm.initial_for(rule.current) if rule and rule.current else {"severity": "medium", "mode": "warn"}
    form = RuleForm(request.POST or None, initial=initial)
    if rule is not None:
        form.fields["key"].disabled = True
    error = ""
    if request.method == "POST" and form.is_valid():
        rule_key = rule.key if rule else form.cleaned_data["key"]
        try:
            version = rule_save(
                actor=request.user, key=rule_key, data=form.rule_data(), note=form.cleaned_data.get("note", "")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                f"Saved {rule_key} as version {version.version}; affected subjects are being re-evaluated.",
            )
            # unknown names where the fact model is open: saved, but said (they error where absent)
            for warning in compile_rule(version.expression, requires=version.requires, saving=False).warnings:
                messages.warning(request, warning)
            return redirect("policy:rule_detail", key=rule_key)
    return render(request, "policy/rule_form.html", {"form": form, "rule": rule, "error": error})


@login_required
@require_POST
def rule_validate(request):
    """htmx, on every keystroke (debounced): does the expression compile? Line and column if not."""
    _ensure_editor(request.user)
    expression = request.POST.get("expression", "")
    requires = _names(request.POST.get("requires", ""))
    context = {"expression": expression}
    try:
        compiled = compile_rule(expression, requires=requires)
    except RuleSyntaxError as exc:
        lines = expression.split("\n")
        line_text = lines[exc.line - 1] if 0 < exc.line <= len(lines) else ""
        context.update({"error": exc, "line_text": line_text, "caret": " " * max(exc.column - 1, 0) + "^"})
    else:
        context["reads"] = [p[0] for p in compiled.fact_paths]
        context["warnings"] = compiled.warnings
    return render(request, "policy/_rule_validation.html", context)


@login_required
@require_POST
def rule_dry_run_view(request):
    """htmx: queue a dry run of the rule in the editor; a worker runs it and the page polls its progress."""
    _ensure_editor(request.user)
    form = RuleForm(request.POST)
    form.is_valid()  # partial data is fine: rule_spec_from_form says what is missing
    key = request.POST.get("rule_key") or form.cleaned_data.get("key") or "draft-rule"
    try:
        dry_run = rule_dry_run_request(actor=request.user, key=key, data=form.rule_data())
    except RuleSetError as exc:
        return render(request, "policy/_dry_run.html", {"error": str(exc)})
    return render(request, "policy/_dry_run.html", {"dry_run": dry_run})


@login_required
def rule_dry_run_status(request, pk):
    """htmx, polled every second while the dry run is queued or running: its progress, then its result."""
    _ensure_editor(request.user)
    dry_run = dry_run_get_for_user(user=request.user, pk=pk)
    return render(request, "policy/_dry_run.html", {"dry_run": dry_run})


@login_required
def catalog_import_view(request):
    _ensure_editor(request.user)
    form = CatalogImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            framework = catalog_import(
                actor=request.user, data=form.cleaned_data["file"].read(), code=form.cleaned_data["code"] or None
            )
        except ValidationError as exc:
            form.add_error("file", " ".join(exc.messages))
        else:
            messages.success(request, f"Imported {framework.title} ({framework.controls.count()} controls).")
            return redirect(framework.get_absolute_url())
    return render(request, "policy/catalog_import.html", {"form": form})


def oscal_export_document(*, user, framework: Framework, system: System | None, as_of) -> dict:
    """The OSCAL assessment-results document of a framework (one door for the page and the API)."""
    end = timezone.now() if as_of is None else datetime.combine(as_of, datetime.max.time(), tzinfo=UTC)
    results = results_for_export(user=user, framework=framework, system=system, as_of=as_of)
    starts = [r["evaluated_at"] for r in results]
    start = min(starts) if starts else end
    scope = system.name if system else "all systems"
    return export_assessment_results(
        framework={"code": framework.code, "title": framework.title, "version": framework.version},
        results=results,
        title=f"{framework.title}: assessment results for {scope}",
        period_start=min(start, end),
        period_end=end,
    )


def export_params(request) -> tuple[System | None, object]:
    system = None
    slug = request.GET.get("system", "")
    if slug:
        system = get_object_or_404(System, slug=slug)
        if not can_see_system(request.user, system.pk):
            raise Http404("No such system")
    return system, as_of_for_user(request.user, AsOfForm(request.GET or None).day())


@login_required
def oscal_export(request, code):
    framework = get_object_or_404(Framework, code=code)
    system, as_of = export_params(request)
    doc = oscal_export_document(user=request.user, framework=framework, system=system, as_of=as_of)
    name = f"assessment-results-{framework.code}{'-' + system.slug if system else ''}.json"
    response = HttpResponse(json.dumps(doc, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
