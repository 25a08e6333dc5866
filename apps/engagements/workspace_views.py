"""Workspace pages of an engagement: one page per control, flag threads, and the workpaper workbook.

Thin views: parse, call a service (apps.engagements.threads) or a selector (apps.engagements.workspace),
render. Who may see what is decided by the selectors (404 for anyone outside the engagement), who may
write by the services (403); a write view checks the writer before it reads the form, so a refusal is
a 403 whatever was posted, never a form error.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.engagements import selectors, threads, workspace
from apps.engagements.forms import FlagAnswerForm, FlagForm, FlagReviewForm
from apps.engagements.models import Engagement, FlagThread
from apps.engagements.services import ensure_working_auditor, is_working_auditor
from apps.engagements.workpaper import workpaper_build

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refuse(request, message: str, *, back: str, status: int = 400):
    """Bad input: `{"error": ...}` with a 4xx for a client that asks for JSON, the message on the page otherwise."""
    if request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse({"error": message}, status=status)
    messages.error(request, message)
    return redirect(back)


def _form_errors(form) -> str:
    return " ".join(" ".join(errors) for errors in form.errors.values())


@login_required
def control_workspace(request, pk: int, control: str):
    engagement = selectors.engagement_get_for_user(user=request.user, pk=pk)
    ctrl = workspace.workspace_control_get(engagement=engagement, ref=control)
    ws = workspace.control_workspace(engagement=engagement, control=ctrl)
    return render(
        request,
        "engagements/control_workspace.html",
        {
            "engagement": engagement,
            "ws": ws,
            "result_tables": [
                ("Current results", ws["results"]),
                ("Result changes in the observation window", ws["history"]),
            ],
            "is_auditor": is_working_auditor(request.user, engagement),
        },
    )


@require_POST
@login_required
def flag_create(request, pk: int, control: str):
    engagement = selectors.engagement_get_for_user(user=request.user, pk=pk)
    ctrl = workspace.workspace_control_get(engagement=engagement, ref=control)
    back = workspace_url(engagement, ctrl)
    ensure_working_auditor(request.user, engagement)
    form = FlagForm(request.POST)
    if not form.is_valid():
        return _refuse(request, _form_errors(form), back=back)
    try:
        thread = threads.flag_raise(
            actor=request.user,
            engagement_id=engagement.pk,
            control_ref=ctrl.ref,
            evidence_id=form.cleaned_data["evidence"],
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as exc:
        return _refuse(request, " ".join(exc.messages), back=back)
    messages.success(request, "Flagged; the system's owners have been told.")
    return redirect(thread)


def workspace_url(engagement: Engagement, control) -> str:
    return reverse("engagements:workspace", args=[engagement.pk, control.ref])


def _flag(request, pk: int, flag_pk: int) -> tuple[FlagThread, bool]:
    return workspace.flag_get_for_user(
        user=request.user, engagement_pk=pk, flag_pk=flag_pk, can_answer=threads.can_answer_flag
    )


@login_required
def flag_detail(request, pk: int, flag_pk: int):
    thread, as_engagement_member = _flag(request, pk, flag_pk)
    can_answer = threads.can_answer_flag(request.user, thread)
    answer_form = None
    if can_answer and thread.status == FlagThread.Status.OPEN:
        answer_form = FlagAnswerForm(candidates=selectors.answer_candidates(thread))
    return render(
        request,
        "engagements/flag_detail.html",
        {
            "thread": thread,
            "engagement": thread.engagement,
            "messages_": thread.messages.select_related("author", "receipt").order_by("at", "id"),
            "answer_form": answer_form,
            "is_auditor": is_working_auditor(request.user, thread.engagement),
            "show_engagement_link": as_engagement_member,
            "workspace_url": workspace_url(thread.engagement, thread.control),
        },
    )


@require_POST
@login_required
def flag_answer(request, pk: int, flag_pk: int):
    thread, _ = _flag(request, pk, flag_pk)
    if not threads.can_answer_flag(request.user, thread):
        raise PermissionDenied("Only the system's owners answer a flag.")
    form = FlagAnswerForm(request.POST, request.FILES, candidates=selectors.answer_candidates(thread))
    if not form.is_valid():
        return _refuse(request, _form_errors(form), back=thread.get_absolute_url())
    data = form.cleaned_data
    upload = None
    if data.get("file"):
        f = data["file"]
        upload = {"body": f.read(), "filename": f.name, "content_type": f.content_type,
                  "effective_at": data["effective_at"]}  # fmt: skip
    try:
        threads.flag_answer(
            actor=request.user, flag_id=thread.pk, body=data["body"], evidence_ids=data["evidence"], upload=upload
        )
    except ValidationError as exc:  # InvalidTransition too
        return _refuse(request, " ".join(exc.messages), back=thread.get_absolute_url())
    messages.success(request, "Answered; the auditor has been told.")
    return redirect(thread)


@require_POST
@login_required
def flag_review(request, pk: int, flag_pk: int):
    thread, _ = _flag(request, pk, flag_pk)
    ensure_working_auditor(request.user, thread.engagement)
    form = FlagReviewForm(request.POST)
    if not form.is_valid():
        return _refuse(request, _form_errors(form), back=thread.get_absolute_url())
    decision, body = form.cleaned_data["decision"], form.cleaned_data["body"]
    try:
        if decision == "accept":
            threads.flag_accept(actor=request.user, flag_id=thread.pk, body=body)
        else:
            threads.flag_reopen(actor=request.user, flag_id=thread.pk, body=body)
    except ValidationError as exc:  # InvalidTransition too
        return _refuse(request, " ".join(exc.messages), back=thread.get_absolute_url())
    messages.success(request, "Accepted." if decision == "accept" else "Sent back; the system's owners have been told.")
    return redirect(thread)


@login_required
def workpaper(request, pk: int):
    """The engagement's workpaper workbook: an index sheet and one sheet per control in scope."""
    engagement = selectors.engagement_get_for_user(user=request.user, pk=pk)
    response = HttpResponse(workpaper_build(engagement=engagement), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="engagement-{engagement.pk}-workpaper.xlsx"'
    return response
