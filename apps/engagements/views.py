"""Engagement pages: thin views that parse, call a service or selector, and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.roles import Role
from apps.accounts.scoping import is_scoped_auditor
from apps.common.sorting import sort_read
from apps.common.states import InvalidTransition
from apps.engagements import selectors, services, workspace
from apps.engagements.forms import (
    EngagementForm,
    EvidenceRequestAnswerForm,
    EvidenceRequestForm,
    ReopenForm,
    ReviewForm,
    SampleForm,
    SampleItemTestForm,
)
from apps.engagements.models import Engagement, EvidenceRequest, SampleItem
from apps.engagements.populations import POPULATIONS
from apps.evidence.models import Evidence
from compliance_portal.csv_export import csv_response

# The columns each list sorts by (?sort=); anything else keeps the list's default order.
ENGAGEMENT_SORT_COLUMNS = {
    "name": ("name",),
    "observation": ("observation_start", "observation_end"),
    "access": ("access_start",),
}
REQUEST_SORT_COLUMNS = {
    "request": ("title",),
    "control": ("control_ref", "due_date"),
    "engagement": ("engagement__name", "due_date"),
    "system": ("system__name", "due_date"),
    "assignee": ("assignee__username", "due_date"),
    "due": ("due_date",),
    "status": ("status", "due_date"),
}


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def _engagement(request, pk: int) -> Engagement:
    return selectors.engagement_get_for_user(user=request.user, pk=pk)


def _working_auditor_engagement(request, pk: int) -> Engagement:
    """The engagement (404 if the user may not see it), refused (403) unless the user audits it now."""
    engagement = _engagement(request, pk)
    if not services.is_working_auditor(request.user, engagement):
        raise PermissionDenied("Only the engagement's auditors do this, while it is open.")
    return engagement


@login_required
def engagement_list(request):
    user = request.user
    if not (services.can_manage_engagements(user) or user.has_role(Role.AUDITOR)):
        raise PermissionDenied("Engagements are for compliance officers, auditors and admins.")
    sort = sort_read(request.GET, ENGAGEMENT_SORT_COLUMNS, default="-access")
    return render(
        request,
        "engagements/engagement_list.html",
        {
            "engagements": sort.apply(selectors.engagement_list_for_user(user=user)),
            "can_manage": services.can_manage_engagements(user),
            "sort": sort,
        },
    )


@login_required
def engagement_create(request):
    if not services.can_manage_engagements(request.user):
        raise PermissionDenied("Only compliance officers and platform admins open engagements.")
    form = EngagementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            engagement = services.engagement_open(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(
                request,
                f"{engagement.name} is open for its auditors from {engagement.access_start:%Y-%m-%d %H:%M} UTC.",
            )
            return redirect(engagement)
    return render(request, "engagements/engagement_form.html", {"form": form})


@login_required
def engagement_detail(request, pk: int):
    engagement = _engagement(request, pk)
    requests_qs = selectors.evidence_request_list(engagement=engagement)
    if _wants_csv(request):
        return csv_response(
            f"engagement-{engagement.pk}-requests.csv",
            ["id", "control", "title", "system", "assignee", "due", "status", "overdue", "items", "link"],
            (
                [
                    r.pk,
                    r.control_ref,
                    r.title,
                    r.system.slug,
                    r.assignee.username,
                    r.due_date,
                    r.status,
                    "yes" if r.is_overdue else "",
                    r.n_items,
                    request.build_absolute_uri(r.get_absolute_url()),
                ]
                for r in requests_qs
            ),
        )
    statuses = workspace.control_review_statuses(engagement=engagement)
    controls = selectors.engagement_control_status(engagement=engagement)
    for row in (row for fw in controls for row in fw["rows"]):
        status = statuses.get(row["control"].pk, workspace.ControlReviewStatus.NOT_STARTED)
        row["review"] = (status, workspace.ControlReviewStatus(status).label)
        row["workspace_url"] = reverse("engagements:workspace", args=[engagement.pk, row["control"].ref])
    return render(
        request,
        "engagements/engagement_detail.html",
        {
            "engagement": engagement,
            "progress": workspace.engagement_progress(engagement=engagement, statuses=statuses),
            "requests": requests_qs,
            "reviews": selectors.review_list(engagement=engagement)[:200],
            "samples": selectors.sample_list(engagement=engagement),
            "can_manage": services.can_manage_engagements(request.user),
            "is_auditor": services.is_working_auditor(request.user, engagement),
            "sample_form": SampleForm(),
            "populations": POPULATIONS,
            "consistency": selectors.engagement_consistency(engagement=engagement),
            "evidence_links": selectors.engagement_evidence_links(engagement=engagement),
            "controls": controls,
        },
    )


@login_required
def engagement_consistency(request, pk: int):
    """The consistency proof since the engagement opened, as JSON for `compliance_verify.py`."""
    engagement = _engagement(request, pk)
    bundle = selectors.engagement_consistency(engagement=engagement)
    if bundle is None:
        return JsonResponse({"error": "the engagement opened before the ledger had a checkpoint"}, status=404)
    response = JsonResponse(bundle, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="engagement-{engagement.pk}-consistency.json"'
    return response


@require_POST
@login_required
def engagement_end(request, pk: int):
    engagement = _engagement(request, pk)
    try:
        services.engagement_end(actor=request.user, engagement_id=engagement.pk)
        messages.success(request, f"{engagement.name} has ended: its auditors no longer see anything of it.")
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    return redirect(engagement)


@login_required
def engagement_access_log(request, pk: int):
    if not services.can_manage_engagements(request.user):
        raise PermissionDenied("The access log is for compliance officers and admins.")
    engagement = _engagement(request, pk)
    if _wants_csv(request):
        rows = selectors.engagement_access_log(engagement=engagement, limit=None)
        return csv_response(
            f"engagement-{engagement.pk}-access-log.csv",
            ["time", "auditor", "action", "method", "path", "status", "detail", "ledger index"],
            (
                [
                    r["time"].isoformat(),
                    r["auditor"],
                    r["action"],
                    r["method"],
                    r["path"],
                    r["status"],
                    r["detail"],
                    "" if r["index"] is None else r["index"],
                ]
                for r in rows
            ),
        )
    return render(
        request,
        "engagements/access_log.html",
        {"engagement": engagement, "rows": selectors.engagement_access_log(engagement=engagement)},
    )


# ---------------------------------------------------------------- evidence requests


@login_required
def request_create(request, pk: int):
    engagement = _working_auditor_engagement(request, pk)
    form = EvidenceRequestForm(request.POST or None, engagement=engagement)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            req = services.evidence_request_create(
                actor=request.user,
                engagement_id=engagement.pk,
                system_id=data["system"].pk,
                control_id=data["control"].control_id if data["control"] else "",
                control_ref=data["control_ref"],
                title=data["title"],
                description=data["description"],
                due_date=data["due_date"],
                assignee=data["assignee"],
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, f"Request sent to {req.assignee.display_name}.")
            return redirect(req)
    return render(request, "engagements/request_form.html", {"form": form, "engagement": engagement})


@login_required
def request_detail(request, pk: int, request_pk: int):
    req, as_engagement_member = selectors.evidence_request_get_for_user(
        user=request.user, engagement_pk=pk, request_pk=request_pk
    )
    can_answer = services.can_answer_request(request.user, req)
    answer_form = None
    if can_answer and req.status in EvidenceRequest.WAITING_FOR_ANSWER:
        answer_form = EvidenceRequestAnswerForm(candidates=selectors.answer_candidates(req))
    return render(
        request,
        "engagements/request_detail.html",
        {
            "req": req,
            "engagement": req.engagement,
            "items": selectors.evidence_request_items(req),
            "answer_form": answer_form,
            "is_auditor": services.is_working_auditor(request.user, req.engagement),
            "reopen_form": ReopenForm(),
            "show_engagement_link": as_engagement_member,
        },
    )


@require_POST
@login_required
def request_answer(request, pk: int, request_pk: int):
    req, _ = selectors.evidence_request_get_for_user(user=request.user, engagement_pk=pk, request_pk=request_pk)
    if not services.can_answer_request(request.user, req):
        raise PermissionDenied("Only the assignee, the system's owners or a compliance officer answer this request.")
    form = EvidenceRequestAnswerForm(request.POST, request.FILES, candidates=selectors.answer_candidates(req))
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(req)
    data = form.cleaned_data
    upload = None
    if data.get("file"):
        f = data["file"]
        upload = {
            "body": f.read(),
            "filename": f.name,
            "content_type": f.content_type,
            "effective_at": data["effective_at"],
        }
    try:
        services.evidence_request_answer(
            actor=request.user, request_id=req.pk, evidence_ids=data["evidence"], upload=upload, note=data["note"]
        )
        messages.success(request, "Answered; the auditor has been told.")
    except ValidationError as exc:  # InvalidTransition too
        messages.error(request, _errors(exc))
    return redirect(req)


@require_POST
@login_required
def request_accept(request, pk: int, request_pk: int):
    req, _ = selectors.evidence_request_get_for_user(user=request.user, engagement_pk=pk, request_pk=request_pk)
    if not services.is_working_auditor(request.user, req.engagement):
        raise PermissionDenied("Only the engagement's auditors accept answers.")
    try:
        services.evidence_request_accept(actor=request.user, request_id=req.pk)
        messages.success(request, "Accepted.")
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    return redirect(req)


@require_POST
@login_required
def request_reopen(request, pk: int, request_pk: int):
    req, _ = selectors.evidence_request_get_for_user(user=request.user, engagement_pk=pk, request_pk=request_pk)
    if not services.is_working_auditor(request.user, req.engagement):
        raise PermissionDenied("Only the engagement's auditors reopen requests.")
    form = ReopenForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("say why the request is reopened")
        services.evidence_request_reopen(actor=request.user, request_id=req.pk, reason=form.cleaned_data["reason"])
        messages.success(request, "Reopened; the assignee has been told.")
    except ValidationError as exc:  # InvalidTransition too
        messages.error(request, _errors(exc))
    return redirect(req)


@login_required
def my_requests(request):
    if is_scoped_auditor(request.user):
        raise PermissionDenied("Auditors raise requests from their engagement's page.")
    sort = sort_read(request.GET, REQUEST_SORT_COLUMNS, default="due")
    rows = sort.apply(selectors.evidence_request_list_for_assignee(user=request.user))
    if _wants_csv(request):
        return csv_response(
            "evidence-requests.csv",
            ["id", "engagement", "control", "title", "system", "assignee", "due", "status", "overdue"],
            (
                [
                    r.pk,
                    r.engagement.name,
                    r.control_ref,
                    r.title,
                    r.system.slug,
                    r.assignee.username,
                    r.due_date,
                    r.status,
                    "yes" if r.is_overdue else "",
                ]
                for r in rows
            ),
        )
    flags = workspace.flag_list_for_owner(user=request.user, can_manage=services.can_manage_engagements(request.user))
    return render(request, "engagements/my_requests.html", {"requests": rows, "flags": flags, "sort": sort})


# ---------------------------------------------------------------- reviews


@require_POST
@login_required
def review_mark(request, pk: int, evidence_pk: int):
    engagement = _working_auditor_engagement(request, pk)
    form = ReviewForm(request.POST)
    evidence_url = f"/evidence/{evidence_pk}/"
    # Marked from a control's workspace: back there (only to this engagement's workspace pages).
    back = request.POST.get("next", "")
    if back.startswith(reverse("engagements:detail", args=[engagement.pk]) + "controls/") and (
        url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    ):
        evidence_url = back
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(evidence_url)
    try:
        services.evidence_review_mark(
            actor=request.user,
            engagement_id=engagement.pk,
            evidence_id=evidence_pk,
            mark=form.cleaned_data["mark"],
            comment=form.cleaned_data["comment"],
        )
        messages.success(request, "Review recorded.")
    except Evidence.DoesNotExist:
        raise PermissionDenied("No such evidence in this engagement.") from None
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect(evidence_url)


@login_required
def review_export(request, pk: int):
    engagement = _engagement(request, pk)
    return csv_response(
        f"engagement-{engagement.pk}-reviews.csv",
        ["evidence", "title", "system", "mark", "comment", "reviewer", "reviewed at"],
        (
            [
                r.evidence_id,
                r.evidence.title,
                r.evidence.system.slug if r.evidence.system else "",
                r.mark,
                r.comment,
                r.reviewer.username,
                r.reviewed_at.isoformat(),
            ]
            for r in selectors.review_list(engagement=engagement)
        ),
    )


# ---------------------------------------------------------------- samples


@require_POST
@login_required
def sample_create(request, pk: int):
    engagement = _working_auditor_engagement(request, pk)
    form = SampleForm(request.POST)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(engagement)
    try:
        sample = services.sample_draw(actor=request.user, engagement_id=engagement.pk, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect(engagement)
    messages.success(request, f"Drew {sample.size} of {sample.population_size} with seed {sample.seed}.")
    return redirect(sample)


@login_required
def sample_detail(request, pk: int, sample_pk: int):
    engagement = _engagement(request, pk)
    sample = selectors.sample_get(engagement=engagement, pk=sample_pk)
    items = sample.items.select_related("tested_by").order_by("position")
    if _wants_csv(request):
        return csv_response(
            f"engagement-{engagement.pk}-sample-{sample.pk}.csv",
            [
                "position",
                "item",
                "label",
                "result",
                "note",
                "tested by",
                "tested at",
                "seed",
                "population",
                "population digest",
            ],
            (
                [
                    i.position,
                    f"{i.object_type}:{i.object_id}",
                    i.label,
                    i.result,
                    i.note,
                    i.tested_by.username if i.tested_by else "",
                    i.tested_at.isoformat() if i.tested_at else "",
                    sample.seed,
                    sample.population,
                    sample.population_digest,
                ]
                for i in items
            ),
        )
    return render(
        request,
        "engagements/sample_detail.html",
        {
            "engagement": engagement,
            "sample": sample,
            "items": items,
            "population": POPULATIONS.get(sample.population),
            "is_auditor": services.is_working_auditor(request.user, engagement),
            "results": [c for c in SampleItem.Result.choices if c[0] != SampleItem.Result.UNTESTED],
        },
    )


@require_POST
@login_required
def sample_item_test(request, pk: int, sample_pk: int, item_pk: int):
    engagement = _working_auditor_engagement(request, pk)
    sample = selectors.sample_get(engagement=engagement, pk=sample_pk)
    item = get_object_or_404(SampleItem, sample=sample, pk=item_pk)
    form = SampleItemTestForm(request.POST)
    if form.is_valid():
        try:
            services.sample_item_test(actor=request.user, item_id=item.pk, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
    else:
        messages.error(request, "Choose a result.")
    return redirect(sample)
