"""Retention pages: the report (all systems or one), legal holds, a system's data policy."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.inventory.models import System
from apps.retention import selectors, services
from apps.retention.forms import DataPolicyForm, LegalHoldForm, ReleaseHoldForm


def _ensure(request) -> None:
    if not services.can_manage_retention(request.user):
        raise PermissionDenied("Retention and legal holds are for compliance officers and platform admins.")


def _day_start(d):
    return timezone.make_aware(datetime.combine(d, time.min)) if d else None


@login_required
def retention_report_page(request):
    _ensure(request)
    slug = request.GET.get("system", "")
    system = get_object_or_404(System, slug=slug) if slug else None
    report = selectors.retention_report(system, timezone.now(), user=request.user)
    policy_form = None
    if system is not None:
        current = selectors.data_policy_for(system)
        policy_form = DataPolicyForm(initial={"redaction_rules": current.redaction_rules if current else []})
    return render(
        request,
        "retention/report.html",
        {
            "report": report,
            "system": system,
            "systems": System.objects.order_by("name"),
            "policy_form": policy_form,
            "data_policy": selectors.data_policy_for(system) if system else None,
        },
    )


@login_required
def hold_create(request):
    _ensure(request)
    form = LegalHoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        end = data["period_end"]
        try:
            hold = services.legal_hold_place(
                actor=request.user,
                scope=data["scope"],
                reason=data["reason"],
                system=data["system"],
                period_start=_day_start(data["period_start"]),
                period_end=_day_start(end + timedelta(days=1)) if end else None,
                evidence_ids=data["evidence_ids"],
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, f"{hold.reference} placed: {hold.describe()} is kept until it is released.")
            return redirect(hold)
    return render(request, "retention/hold_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def hold_detail(request, pk: int):
    _ensure(request)
    hold = selectors.hold_get(pk=pk)
    return render(request, "retention/hold_detail.html", {"hold": hold, "form": ReleaseHoldForm()})


@require_POST
@login_required
def hold_release(request, pk: int):
    _ensure(request)
    hold = selectors.hold_get(pk=pk)
    form = ReleaseHoldForm(request.POST)
    if form.is_valid():
        try:
            hold = services.legal_hold_release(actor=request.user, hold_id=hold.pk, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, f"{hold.reference} released.")
            return redirect(hold)
    return render(request, "retention/hold_detail.html", {"hold": hold, "form": form}, status=400)


@require_POST
@login_required
def data_policy_update(request, slug: str):
    _ensure(request)
    system = get_object_or_404(System, slug=slug)
    form = DataPolicyForm(request.POST)
    if form.is_valid():
        services.data_policy_set(
            actor=request.user, system=system, redaction_rules=form.cleaned_data["redaction_rules"]
        )
        messages.success(
            request, f"Redaction for {system.name}: {', '.join(form.cleaned_data['redaction_rules']) or 'none'}."
        )
    else:
        messages.error(request, "Unknown redaction rule.")
    return redirect(f"{redirect('retention:report').url}?system={system.slug}")
