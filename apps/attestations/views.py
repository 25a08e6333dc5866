"""HTML of manual evidence: the panel on a control's page and the posts it makes (upload, decide, attest)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from apps.accounts.scoping import is_read_only
from apps.approvals.reauth import credentials_check, reauth_record, reauth_time
from apps.approvals.refusals import reauth_failure_record
from apps.attestations.forms import AttestationForm, DocumentUploadForm
from apps.attestations.selectors import control_manual_detail, document_get_for_user
from apps.attestations.services import (
    AttestationInput,
    DocumentUpload,
    attestation_record,
    can_decide,
    document_approve,
    document_reject,
    document_upload,
)
from apps.policy.models import Control


def control_panel(request, control) -> str:
    """The documents-and-attestations section of a control's page (registered with policy)."""
    detail = control_manual_detail(user=request.user, control=control)
    if not detail["requirements"] and not detail["documents"]:
        return ""
    writable = not is_read_only(request.user)
    context = {
        "control": control,
        **detail,
        "writable": writable,
        "decidable": {d.pk for d in detail["documents"] if can_decide(request.user, d)},
        "upload_form": DocumentUploadForm(control=control, systems=detail["systems"]) if writable else None,
        "attest_form": AttestationForm(control=control, systems=detail["systems"]) if writable else None,
        "is_owner": any(r.owner_id == request.user.pk for r in detail["requirements"]),
    }
    return render_to_string("attestations/_control_panel.html", context, request=request)


def _back(control):
    return redirect("policy:control_detail", control_id=control.ref)


def _ensure_writer(user) -> None:
    if is_read_only(user):
        raise PermissionDenied("Auditors read manual evidence; they never provide, decide on or attest it.")


def _errors(request, exc) -> None:
    text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    messages.error(request, text)


@login_required
@require_POST
def document_upload_view(request, control_pk: int):
    _ensure_writer(request.user)
    control = get_object_or_404(Control.objects.select_related("framework"), pk=control_pk)
    systems = control_manual_detail(user=request.user, control=control)["systems"]
    form = DocumentUploadForm(request.POST, request.FILES, control=control, systems=systems)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return _back(control)
    d = form.cleaned_data
    upload = DocumentUpload(body=d["file"].read(), filename=d["file"].name, content_type=d["file"].content_type or "",
                            title=d["title"], document_date=d.get("document_date"))  # fmt: skip
    try:
        document_upload(actor=request.user, requirement_id=d["requirement"].pk, system=d["system"], upload=upload)
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Document uploaded: it counts once its owner or a compliance officer approves it.")
    return _back(control)


@login_required
@require_POST
def document_decide_view(request, pk: int):
    document = document_get_for_user(user=request.user, pk=pk)
    _ensure_writer(request.user)
    if not can_decide(request.user, document):  # a refusal is a 403, not a message
        raise PermissionDenied(
            "Only the requirement's owner or a compliance officer decides, never on their own upload."
        )
    control = document.requirement.control
    try:
        if request.POST.get("decision") == "approve":
            document_approve(actor=request.user, document_id=document.pk)
        else:
            document_reject(actor=request.user, document_id=document.pk, reason=request.POST.get("reason", ""))
    except ValidationError as exc:  # InvalidTransition is one
        _errors(request, exc)
    return _back(control)


@login_required
@require_POST
def attestation_create_view(request, control_pk: int):
    _ensure_writer(request.user)
    control = get_object_or_404(Control.objects.select_related("framework"), pk=control_pk)
    systems = control_manual_detail(user=request.user, control=control)["systems"]
    form = AttestationForm(request.POST, control=control, systems=systems)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return _back(control)
    d = form.cleaned_data
    if d.get("password"):  # step-up on the same form: the session remembers it for the next few minutes
        ok, why = credentials_check(request=request, user=request.user, password=d["password"],
                                    otp_token=d.get("otp_token", ""))  # fmt: skip
        if not ok:
            reauth_failure_record(user=request.user, why=why, target=control, path=request.path)
            messages.error(request, f"Re-authentication failed: {why}")
            return _back(control)
        reauth_record(request)
    data = AttestationInput(control_id=control.pk, system=d["system"], period_start=d["period_start"],
                            period_end=d["period_end"], statement=d["statement"],
                            document_ids=tuple(doc.pk for doc in d["documents"]))  # fmt: skip
    try:
        attestation_record(actor=request.user, data=data, reauthenticated_at=reauth_time(request))
    except (ValidationError, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Attestation recorded and bound to the documents' digests.")
    return _back(control)
