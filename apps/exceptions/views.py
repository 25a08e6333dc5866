"""Exception pages: register, request form (live validation), detail, inbox, sign-off, re-authentication.

Views parse, call a service or selector, and render; every rule is the services' (the API
calls the same functions).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.scoping import is_read_only
from apps.approvals.expiry import expiry_day
from apps.approvals.reauth import (
    reauth_is_fresh,
    reauth_time,
    reauth_window,
)
from apps.common.sorting import rank, sort_read
from apps.exceptions import charts
from apps.exceptions.chain import chain_for, chain_state, open_slots_for, slot_candidates
from apps.exceptions.forms import (
    DecisionForm,
    ExceptionFilterForm,
    ExceptionRequestForm,
    RenewForm,
    RevokeForm,
    end_of_day,
)
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import (
    ExceptionFilters,
    approvals_of,
    can_edit,
    can_renew,
    can_request_any,
    can_revoke,
    can_use_inbox,
    covered_results,
    current_state,
    evidence_for_request,
    exception_aging,
    exception_decision_summary,
    exception_evidence_options,
    exception_expiry_calendar,
    exception_get_for_user,
    exception_inbox_for_user,
    exception_list_for_user,
    exception_other_failures,
    exception_picker_options,
    exception_stuck_list,
    exception_unblocks,
    requestable_systems,
)
from apps.exceptions.services import (
    exception_approve,
    exception_reject,
    exception_renew,
    exception_request,
    exception_revoke,
    exception_submit,
    exception_update,
    exception_validate,
    max_expiry,
)
from apps.exceptions.tiers import Slot, tier_policy
from apps.inventory.models import System
from apps.ledger.selectors import ledger_timeline_for, ledger_visible_to
from apps.releases.selectors import release_inbox_for_user, release_stuck_list  # sign-off shares this inbox
from compliance_portal.csv_export import csv_response

PAGE_SIZE = 50
# The columns the register sorts by (?sort=); anything else keeps the default, newest first.
SORT_COLUMNS = {
    "created": ("created_at",),
    "status": ("status",),
    "tier": (rank("tier", ExceptionRequest.Tier.values),),
    "control": ("control__control_id",),
    "system": ("system__name",),
    "expires": ("expires_at",),
}


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"__all__": exc.messages}


# ---------------------------------------------------------------- register


@login_required
def exception_list(request):
    form = ExceptionFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else ExceptionFilters()
    sort = sort_read(request.GET, SORT_COLUMNS, default="-created")
    rows = sort.apply(exception_list_for_user(user=request.user, filters=filters))
    if request.GET.get("format") == "csv":
        return _register_csv(request, rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "exceptions/exception_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    aging = exception_aging(user=request.user)
    calendar = exception_expiry_calendar(user=request.user)
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "sort": sort,
            "can_request": can_request_any(request.user),
            "aging": aging,
            "aging_chart": charts.exception_aging_chart(aging),
            "calendar_rows": charts.exception_calendar_rows(calendar),
            "calendar_chart": charts.exception_calendar_chart(calendar),
            "statuses": ExceptionRequest.Status.choices,
            "tiers": ExceptionRequest.Tier.choices,
        },
    )


def _register_csv(request, rows):
    return csv_response(
        "exceptions.csv",
        [
            "reference",
            "status",
            "tier",
            "system",
            "control",
            "artifact",
            "requested_by",
            "created_at",
            "submitted_at",
            "approved_at",
            "expires_at",
            "ended_at",
            "version",
            "digest",
            "renewal_of",
            "link",
        ],
        (
            [
                r.reference,
                r.status,
                r.tier,
                r.system.slug,
                r.control.control_id,
                r.artifact.uri if r.artifact_id else "",
                r.requested_by.username,
                r.created_at.isoformat(),
                r.submitted_at.isoformat() if r.submitted_at else "",
                r.approved_at.isoformat() if r.approved_at else "",
                r.expires_at.isoformat(),
                r.ended_at.isoformat() if r.ended_at else "",
                r.version,
                r.digest(),
                r.renewal_of.reference if r.renewal_of_id else "",
                request.build_absolute_uri(r.get_absolute_url()),
            ]
            for r in rows.iterator(chunk_size=500)
        ),
    )


# ---------------------------------------------------------------- request form


def _preview(user, form: ExceptionRequestForm, *, exclude_pk=None, renewal_of_pk=None) -> dict:
    """Tier, longest allowed expiry, the chain and its candidates, and what is wrong so far."""
    now = timezone.now()
    out = {"errors": {}, "tier": None}
    policy = tier_policy()
    data = form.data
    try:
        likelihood, impact = int(data.get("likelihood", "")), int(data.get("impact", ""))
        tier = policy.tier_for(likelihood, impact)
    except ValueError:
        tier = None
    if tier:
        rule = policy.rule(tier)
        out.update(tier=tier, max_days=rule.max_days, max_date=expiry_day(max_expiry(tier, now=now)))
        out["chain"] = []

        system = System.objects.filter(slug=data.get("system", "")).first()
        for slot in rule.chain:
            names = []
            if system is not None:
                names = [u.display_name for u in slot_candidates(slot, system, exclude=[user.pk])[:5]]
            out["chain"].append({"label": Slot(slot).label, "candidates": names})
    if form.is_valid():
        try:
            exception_validate(
                actor=user, data=form.to_input(), now=now, exclude_pk=exclude_pk, renewal_of_pk=renewal_of_pk
            )
        except ValidationError as exc:
            out["errors"] = _errors(exc)
        except PermissionDenied as exc:
            out["errors"] = {"system": [str(exc)]}
        out["ready"] = not out["errors"]
    else:
        out["errors"] = {k: list(v) for k, v in form.errors.items() if data.get(k, "") != ""}
        expires_on = form.cleaned_data.get("expires_on")
        if tier and expires_on and end_of_day(expires_on) > max_expiry(tier, now=now):
            out["errors"].setdefault("expires_on", []).append(
                f"a {tier}-tier exception lasts at most {out['max_days']} days: "
                f"choose {out['max_date']:%Y-%m-%d} or earlier"
            )
    return out


def _request_form(request, systems, *, initial=None) -> ExceptionRequestForm:
    """The request form, its evidence picker filled with what the user may cite for the chosen system (the
    posted or initial one; every requestable system's until one is chosen), keeping what is already picked."""
    if request.method == "POST":
        chosen, keep = request.POST.get("system", ""), request.POST.getlist("evidence_ids")
    else:
        chosen, keep = (initial or {}).get("system", ""), (initial or {}).get("evidence_ids", [])
    evidence = exception_evidence_options(user=request.user, systems=systems, chosen=chosen, keep=keep)
    data = request.POST if request.method == "POST" else None
    return ExceptionRequestForm(data, initial=initial, systems=systems, evidence=evidence)


@login_required
def exception_new(request):
    if not can_request_any(request.user):
        raise PermissionDenied("Engineers, risk owners and compliance officers request exceptions.")
    systems = list(requestable_systems(request.user))
    if request.method == "POST":
        form = _request_form(request, systems)
        if request.htmx and request.POST.get("_preview"):
            return render(
                request,
                "exceptions/exception_form.html#preview",
                {"preview": _preview(request.user, form), "form": form, "action_url": reverse("exceptions:new")},
            )
        if form.is_valid():
            try:
                req = exception_request(
                    actor=request.user, data=form.to_input(), submit=request.POST.get("action") == "submit"
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error("system", str(exc))
            else:
                messages.success(
                    request,
                    f"{req.reference} {'submitted for approval' if req.status == 'pending' else 'saved as a draft'}.",
                )
                return redirect(req)
    else:
        form = _request_form(
            request, systems, initial={k: request.GET[k] for k in ("system", "control", "artifact") if k in request.GET}
        )
    return render(
        request,
        "exceptions/exception_form.html",
        {
            "form": form,
            "preview": _preview(request.user, form) if form.is_bound else {"errors": {}, "tier": None},
            "title": "Request an exception",
            "action_url": reverse("exceptions:new"),
            "pickers": exception_picker_options(user=request.user, systems=systems),
            "policy": tier_policy(),
            "matrix_rows": _matrix_rows(),
        },
    )


def _matrix_rows() -> list[tuple[str, tuple[str, ...]]]:
    policy = tier_policy()
    return list(zip(policy.likelihood, policy.matrix, strict=True))


def _add_errors(form, exc: ValidationError) -> None:
    for field, msgs in _errors(exc).items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, msg)


@login_required
def exception_edit(request, pk: int):
    req = exception_get_for_user(user=request.user, pk=pk)
    if not can_edit(request.user, req):
        raise PermissionDenied("Only the requester or a compliance officer edits a draft or pending request.")
    systems = [req.system]
    if request.method == "POST":
        form = _request_form(request, systems)
        if request.htmx and request.POST.get("_preview"):
            return render(
                request,
                "exceptions/exception_form.html#preview",
                {
                    "preview": _preview(request.user, form, exclude_pk=req.pk, renewal_of_pk=req.renewal_of_id),
                    "form": form,
                    "action_url": reverse("exceptions:edit", args=[req.pk]),
                },
            )
        if form.is_valid():
            try:
                req = exception_update(request_id=req.pk, actor=request.user, data=form.to_input())
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"{req.reference} saved (version {req.version}).")
                return redirect(req)
    else:
        form = _request_form(request, systems, initial=ExceptionRequestForm.initial_from(req))
    return render(
        request,
        "exceptions/exception_form.html",
        {
            "form": form,
            "preview": {
                "errors": {},
                "tier": req.tier,
                "chain": [{"label": s.label, "candidates": []} for s in chain_state(req)],
            },
            "title": f"Edit {req.reference}",
            "req": req,
            "action_url": reverse("exceptions:edit", args=[req.pk]),
            "pickers": exception_picker_options(user=request.user, systems=systems),
            "policy": tier_policy(),
            "matrix_rows": _matrix_rows(),
        },
    )


# ---------------------------------------------------------------- detail and decisions


def _detail_context(request, req: ExceptionRequest, **extra) -> dict:
    user = request.user
    reauth_at = reauth_time(request)
    slots = open_slots_for(user, req) if req.status == ExceptionRequest.Status.PENDING else []
    results = list(covered_results(req))
    return {
        "req": req,
        "chain": chain_state(req),
        "approvals": approvals_of(req),
        "results": results,
        "summary": exception_decision_summary(req, results),
        "unblocks": exception_unblocks(req) if req.status in ExceptionRequest.OPEN else {},
        "others": exception_other_failures(req, user=user),
        "evidence": evidence_for_request(user=user, req=req),
        "current": current_state(req) if req.status == ExceptionRequest.Status.APPROVED else None,
        "my_slots": [Slot(s).label for s in slots],
        "reauth_fresh": reauth_is_fresh(reauth_at),
        "reauth_minutes": int(reauth_window().total_seconds() // 60),
        "decision_form": extra.pop("decision_form", None) or DecisionForm(initial={"digest": req.digest()}),
        "revoke_form": extra.pop("revoke_form", None) or RevokeForm(),
        "renew_form": RenewForm(initial={"expires_on": None}),
        "can_edit": can_edit(user, req),
        "can_revoke": can_revoke(user, req),
        "can_renew": can_renew(user, req),
        "digest": req.digest(),
        "renewals": list(req.renewals.order_by("pk")),
        "timeline": ledger_timeline_for(req),
        "show_ledger_links": ledger_visible_to(user),
        "required_chain": [Slot(s).label for s in chain_for(req)],
        **extra,
    }


@login_required
def exception_detail(request, pk: int):
    req = exception_get_for_user(user=request.user, pk=pk)
    template = "exceptions/exception_detail.html"
    if request.htmx and not request.htmx.boosted:
        template += "#decision_panel"
    return render(request, template, _detail_context(request, req))


@require_POST
@login_required
def exception_decide(request, pk: int):
    """Approve or reject (the services check SoD, role for the system and a fresh re-authentication)."""
    req = exception_get_for_user(user=request.user, pk=pk)
    if is_read_only(request.user):
        raise PermissionDenied("Auditors never decide on exceptions.")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return render(
            request, "exceptions/exception_detail.html", _detail_context(request, req, decision_form=form), status=400
        )
    service = exception_approve if form.cleaned_data["decision"] == "approve" else exception_reject
    try:
        req = service(
            request_id=req.pk,
            approver=request.user,
            comment=form.cleaned_data["comment"],
            reauthenticated_at=reauth_time(request),
            digest=form.cleaned_data["digest"],
        )
    except PermissionDenied as exc:
        return render(
            request,
            "exceptions/exception_detail.html",
            _detail_context(request, req, decision_form=form, decision_error=str(exc)),
            status=403,
        )
    except ValidationError as exc:
        message = " ".join(m for msgs in _errors(exc).values() for m in msgs)
        return render(
            request,
            "exceptions/exception_detail.html",
            _detail_context(request, req, decision_form=form, decision_error=message),
            status=400,
        )
    messages.success(request, f"Your decision on {req.reference} is recorded in the ledger.")
    return redirect(req)


@require_POST
@login_required
def exception_submit_view(request, pk: int):
    req = exception_get_for_user(user=request.user, pk=pk)
    if not can_edit(request.user, req):
        raise PermissionDenied("Only the requester or a compliance officer submits a draft.")
    try:
        exception_submit(request_id=req.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(m for msgs in _errors(exc).values() for m in msgs))
    else:
        messages.success(request, f"{req.reference} submitted for approval.")
    return redirect(req)


@require_POST
@login_required
def exception_revoke_view(request, pk: int):
    req = exception_get_for_user(user=request.user, pk=pk)
    if not can_revoke(request.user, req):
        raise PermissionDenied("Only compliance officers revoke approved or pending exceptions.")
    form = RevokeForm(request.POST)
    if not form.is_valid():
        return render(
            request, "exceptions/exception_detail.html", _detail_context(request, req, revoke_form=form), status=400
        )
    try:
        exception_revoke(request_id=req.pk, actor=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(m for msgs in _errors(exc).values() for m in msgs))
    else:
        messages.success(request, f"{req.reference} revoked.")
    return redirect(req)


@require_POST
@login_required
def exception_renew_view(request, pk: int):
    req = exception_get_for_user(user=request.user, pk=pk)
    if not can_renew(request.user, req):
        raise PermissionDenied("You cannot renew this exception.")
    form = RenewForm(request.POST)
    if form.is_valid():
        try:
            new = exception_renew(
                request_id=req.pk, actor=request.user, expires_at=end_of_day(form.cleaned_data["expires_on"])
            )
        except ValidationError as exc:
            messages.error(request, " ".join(m for msgs in _errors(exc).values() for m in msgs))
        else:
            messages.success(request, f"Renewal {new.reference} submitted for approval.")
            return redirect(new)
    else:
        messages.error(request, "Choose the renewal's expiry date.")
    return redirect(req)


# ---------------------------------------------------------------- inbox


@login_required
def exception_inbox(request):
    if not can_use_inbox(request.user):
        raise PermissionDenied("The approval inbox is for risk owners, compliance officers and designated executives.")
    rows = exception_inbox_for_user(user=request.user)
    items = []
    for req in rows:
        failing = [r for r in covered_results(req) if r.status in ("fail", "missing", "excepted")]
        items.append({"req": req, "results": failing[:6], "more": max(0, len(failing) - 6), "chain": chain_state(req)})

    stuck = [
        {"ref": r.reference, "url": r.get_absolute_url(), "what": f"{r.control.label} on {r.system.name}",
         "reason": r.stuck_reason}
        for r in exception_stuck_list(user=request.user)
    ] + [
        {"ref": s.reference, "url": s.get_absolute_url(), "what": f"{s.change_class} release of {s.system.name}",
         "reason": s.stuck_reason}
        for s in release_stuck_list(user=request.user)
    ]  # fmt: skip
    return render(
        request,
        "exceptions/inbox.html",
        {
            "items": items,
            "can_request": can_request_any(request.user),
            "release_inbox": release_inbox_for_user(user=request.user),
            "stuck": stuck,
        },
    )


