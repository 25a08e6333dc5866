"""Pages of evidence packs: the list with the request form, a pack's progress, download, cancel."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.common.sorting import sort_read
from apps.packs.forms import PackRequestForm
from apps.packs.models import Pack
from apps.packs.selectors import pack_get_for_user, pack_list_for_user, request_choices_for_user, verification_key_list
from apps.packs.services import (
    can_download,
    can_request_packs,
    pack_cancel,
    pack_download,
    pack_report_open,
    pack_request,
)
from apps.packs.verifier import FILENAME, verifier_file

# The columns the list sorts by (?sort=); anything else keeps the default order (newest first).
SORT_COLUMNS = {
    "pack": ("id",),
    "requester": ("requester__username", "requested_at"),
    "requested": ("requested_at",),
    "state": ("status", "requested_at"),
    "size": (F("size"), "requested_at"),  # an expression: packs not built yet (no size) go last either way
}


def _require_packs(user) -> None:
    if not can_request_packs(user):
        raise PermissionDenied("evidence packs are for compliance officers, admins and auditors")


@login_required
def pack_list(request):
    _require_packs(request.user)
    form = PackRequestForm(request.POST or None, **request_choices_for_user(user=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            pack = pack_request(user=request.user, kind=form.cleaned_data["kind"], params=form.scope_params())
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
        else:
            # No status here: the message stays above the polled block, which says the current one.
            messages.success(request, f"{pack.reference} requested; this page follows its build.")
            return redirect(pack)
    sort = sort_read(request.GET, SORT_COLUMNS, default="-requested")
    packs = list(sort.apply(pack_list_for_user(user=request.user))[:100])
    ready = sorted((p for p in packs if p.status == Pack.Status.BUILT and p.requester_id == request.user.pk),
                   key=lambda p: p.requested_at, reverse=True)[:3]
    template = "packs/pack_list.html"
    if request.htmx and not request.htmx.boosted and request.method == "GET":
        template += "#pack_rows"
    return render(request, template, {"form": form, "packs": packs, "ready": ready, "sort": sort,
                                      "any_active": any(p.is_active for p in packs)})


@login_required
def pack_detail(request, pk):
    _require_packs(request.user)
    pack = pack_get_for_user(user=request.user, pk=pk)
    template = "packs/pack_detail.html"
    if request.htmx and not request.htmx.boosted:
        template += "#pack_state"
    return render(request, template, {"pack": pack, "can_download": can_download(request.user, pack)})


@login_required
@require_POST
def pack_cancel_view(request, pk):
    _require_packs(request.user)
    pack = pack_get_for_user(user=request.user, pk=pk)
    try:
        pack = pack_cancel(user=request.user, pack_id=pack.pk)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.info(request, f"{pack.reference} is cancelled.")
    return redirect(pack)


@login_required
def pack_download_view(request, pk):
    _require_packs(request.user)
    pack = pack_get_for_user(user=request.user, pk=pk)
    try:
        handle = pack_download(user=request.user, pack=pack)
    except ValidationError as exc:
        raise Http404("; ".join(exc.messages)) from None
    return FileResponse(handle, as_attachment=True, filename=f"evidence-pack-{pack.reference}.zip",
                        content_type="application/zip")


@login_required
def pack_report_view(request, pk):
    """The pack's PDF report on its own (the same file as report.pdf in the signed ZIP)."""
    _require_packs(request.user)
    pack = pack_get_for_user(user=request.user, pk=pk)
    try:
        handle = pack_report_open(user=request.user, pack=pack)
    except ValidationError as exc:
        raise Http404("; ".join(exc.messages)) from None
    return FileResponse(handle, as_attachment=False, filename=f"evidence-pack-{pack.reference}.pdf",
                        content_type="application/pdf")


# ---------------------------------------------------------------- published for verification, no sign-in


def verification_keys(request):
    """GET /.well-known/compliance-portal/keys.json: every ledger and pack key ever used. Public by design:
    an auditor pins these keys instead of trusting the key a pack names."""


    response = JsonResponse({"keys": verification_key_list()}, encoder=DjangoJSONEncoder,
                            json_dumps_params={"indent": 1})
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response


def verifier_page(request):
    """GET /verify/: the stand-alone verifier, its sha256 and how to run it. Public: it holds no data."""

    return render(request, "packs/verifier.html", {"verifier": verifier_file(), "filename": FILENAME,
                                                   "keys_url": request.build_absolute_uri(
                                                       "/.well-known/compliance-portal/keys.json")})


def verifier_download(request):
    """GET /verify/compliance_verify.py: the verifier itself."""


    verifier = verifier_file()
    response = HttpResponse(verifier.content, content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{FILENAME}"'
    response["X-Content-SHA256"] = verifier.sha256
    return response
