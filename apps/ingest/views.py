"""Admin pages: sources (create, rotate, disable) and receipts (states, failures, re-parse); the raw body download."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseGone
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts.scoping import is_scoped_auditor
from apps.common.sorting import sort_read
from apps.common.states import InvalidTransition
from apps.evidence.models import Evidence
from apps.evidence.selectors import evidence_disposal, evidence_get_for_user
from apps.ingest.blobs import blob_open
from apps.ingest.forms import ReceiptFilterForm, SourceAllowanceForm, SourceForm
from apps.ingest.models import Receipt, Source
from apps.ingest.selectors import (
    receipt_list,
    receipt_list_unrecognised,
    receipt_recognised,
    receipt_state_counts,
    source_list,
)
from apps.ingest.services import (
    SourceCredentials,
    receipt_reparse,
    source_allow_system,
    source_create,
    source_disable,
    source_disallow_system,
    source_enable,
    source_rotate,
)
from apps.ledger.selectors import ledger_timeline_for, ledger_visible_to

# The columns each list sorts by (?sort=); anything else keeps the list's default order.
SOURCE_SORT_COLUMNS = {
    "name": ("name",),
    "kind": ("kind", "name"),
    "system": ("system__name", "name"),
    "receipts": ("receipt_count", "name"),
    "unrecognised": ("unrecognised_count", "name"),
    "status": ("enabled", "name"),
}
RECEIPT_SORT_COLUMNS = {
    "receipt": ("id",),
    "source": ("source__name", "received_at"),
    "received": ("received_at",),
    "state": ("state", "received_at"),
}


@login_required
@permission_required("ingest.view_source", raise_exception=True)
def source_list_page(request):
    sort = sort_read(request.GET, SOURCE_SORT_COLUMNS, default="name")
    return render(request, "ingest/source_list.html", {"sources": sort.apply(source_list()), "sort": sort})


def _credentials_page(request, credentials: SourceCredentials, *, what: str):
    """The one and only time a token and secret are shown; never cached."""
    response = render(
        request,
        "ingest/source_credentials.html",
        {
            "source": credentials.source,
            "token": credentials.token,
            "secret": credentials.secret,
            "what": what,
            "github_url": request.build_absolute_uri(f"/api/v1/ingest/github?source={credentials.source.pk}"),
            "gitlab_url": request.build_absolute_uri(f"/api/v1/ingest/gitlab?source={credentials.source.pk}"),
            "upload_url": request.build_absolute_uri("/api/v1/evidence"),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@permission_required("ingest.add_source", raise_exception=True)
def source_create_page(request):
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = source_create(
            actor=request.user,
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            system=form.cleaned_data["system"],
        )
        return _credentials_page(request, credentials, what="created")
    return render(request, "ingest/source_form.html", {"form": form})


@login_required
@permission_required("ingest.view_source", raise_exception=True)
def source_detail(request, pk: int):
    source = get_object_or_404(Source.objects.select_related("system", "created_by"), pk=pk)
    return render(
        request,
        "ingest/source_detail.html",
        {
            "source": source,
            "receipts": receipt_list(source_id=source.pk)[:20],
            "unrecognised_count": receipt_list_unrecognised(source_id=source.pk).count(),
            "allowances": source.allowances.select_related("system", "allowed_by").order_by("system__name"),
            "allowance_form": SourceAllowanceForm(),
            "timeline": ledger_timeline_for(source),
            "show_ledger_links": ledger_visible_to(request.user),
        },
    )


@require_POST
@login_required
@permission_required("ingest.change_source", raise_exception=True)
def source_allowance_page(request, pk: int):
    """Allow an unbound source to speak for a system, or withdraw it (each change a ledger entry)."""
    source = get_object_or_404(Source, pk=pk)
    form = SourceAllowanceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(source)
    system, reason = form.cleaned_data["system"], form.cleaned_data["reason"]
    try:
        if form.cleaned_data["allow"]:
            source_allow_system(actor=request.user, source_id=source.pk, system=system, reason=reason)
            messages.success(request, f"{source.name} now speaks for {system.slug}: its evidence there counts.")
        else:
            source_disallow_system(actor=request.user, source_id=source.pk, system=system, reason=reason)
            messages.success(request, f"{source.name} no longer speaks for {system.slug}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(source)


@never_cache
@require_POST
@login_required
@permission_required("ingest.change_source", raise_exception=True)
def source_rotate_page(request, pk: int):
    credentials = source_rotate(actor=request.user, source_id=get_object_or_404(Source, pk=pk).pk)
    return _credentials_page(request, credentials, what="rotated")


@require_POST
@login_required
@permission_required("ingest.change_source", raise_exception=True)
def source_toggle(request, pk: int):
    source = get_object_or_404(Source, pk=pk)
    if request.POST.get("enabled") == "true":
        source_enable(actor=request.user, source_id=source.pk)
        messages.success(request, f"{source.name} is enabled again.")
    else:
        source_disable(actor=request.user, source_id=source.pk)
        messages.success(request, f"{source.name} is disabled: everything it sends now gets 403.")
    return redirect(source)


@login_required
@permission_required("ingest.view_receipt", raise_exception=True)
def receipt_list_page(request):
    form = ReceiptFilterForm(request.GET or None)
    state, source_id, unrecognised = "", None, False
    if form.is_valid():
        state, source_id = form.cleaned_data["state"], form.cleaned_data["source"]
        unrecognised = form.cleaned_data["recognised"] == "no"
    sort = sort_read(request.GET, RECEIPT_SORT_COLUMNS, default="-received")
    receipts = sort.apply(receipt_list(state=state, source_id=source_id, unrecognised=unrecognised))
    page = Paginator(receipts, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "ingest/receipt_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(
        request,
        template,
        {"form": form, "page": page, "counts": receipt_state_counts(), "query": query.urlencode(), "sort": sort},
    )


@login_required
@permission_required("ingest.view_receipt", raise_exception=True)
def receipt_detail(request, pk: int):
    receipt = get_object_or_404(Receipt.objects.select_related("source", "system"), pk=pk)
    evidence = (
        Evidence.objects.filter(receipt=receipt)
        .only("id", "title", "verdict", "generation", "kind")
        .order_by("-generation", "ordinal")
    )
    return render(
        request,
        "ingest/receipt_detail.html",
        {
            "receipt": receipt,
            "recognised": receipt_recognised(receipt),
            "evidence": evidence,
            "timeline": ledger_timeline_for(receipt),
            "show_ledger_links": ledger_visible_to(request.user),
        },
    )


@require_POST
@login_required
@permission_required("ingest.change_receipt", raise_exception=True)
def receipt_reparse_page(request, pk: int):
    receipt = get_object_or_404(Receipt, pk=pk)
    try:
        receipt_reparse(actor=request.user, receipt_id=receipt.pk)
        messages.success(request, f"Receipt {receipt.pk} is queued to be parsed again.")
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    return redirect(receipt)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@login_required
def evidence_raw(request, pk: int):
    """The raw body the evidence was parsed from, as an attachment (never rendered inline)."""
    evidence = evidence_get_for_user(user=request.user, pk=pk)
    disposal = evidence_disposal(evidence)
    if disposal is not None:
        # Gone on purpose, not lost: say when and under which schedule (the evidence row stays).
        return HttpResponseGone(
            f"The raw body of this evidence was disposed of on {disposal.disposed_at:%Y-%m-%d} under the "
            f"retention schedule {disposal.schedule!r} (kept until {disposal.kept_until:%Y-%m-%d}).\n",
            content_type="text/plain; charset=utf-8",
        )
    try:
        fh = blob_open(evidence.sha256)
    except FileNotFoundError:
        raise Http404("The raw body is missing from the blob store.") from None
    name = _UNSAFE.sub("_", evidence.receipt.filename.rsplit("/", 1)[-1])[:100].strip("._")
    filename = (
        name
        or f"evidence-{evidence.pk}-{evidence.sha256[:12]}.{'json' if evidence.receipt.channel != 'upload' else 'bin'}"
    )
    response = FileResponse(fh, as_attachment=True, filename=filename, content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Evidence-SHA256"] = evidence.sha256
    if is_scoped_auditor(request.user):
        # Every file an auditor downloads is in their engagements' access log (recorded by
        # apps.engagements' middleware after the response), with what it was.
        request.auditor_access_data = {"evidence": str(evidence.pk), "sha256": evidence.sha256}
    return response
