"""Account pages: the second factor (enrol, verify) and the notification list."""

from __future__ import annotations

from base64 import b32encode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts.mfa import mfa_confirm, mfa_pending_device, mfa_qr_svg, mfa_verify, user_has_device
from apps.accounts.notifications import notification_list_for_user, notification_mark_read


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return "/"
    return target


@never_cache
@login_required
def mfa_setup(request):
    """Enrol an authenticator app: scan the QR code (made here, offline), type the first code."""
    if user_has_device(request.user) and not request.user.is_verified():
        return redirect("accounts:mfa_verify")
    device = mfa_pending_device(request.user)
    error = ""
    if request.method == "POST":
        if mfa_confirm(request=request, device=device, token=request.POST.get("token", "")):
            return redirect(_next(request))
        error = "That code is not right (or came too late). Type the code your app shows now."
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "qr_svg": mfa_qr_svg(device),
            "base32": _base32(device),
            "error": error,
            "next": _next(request),
            "enrolled": user_has_device(request.user),
        },
    )


def _base32(device) -> str:
    return b32encode(device.bin_key).decode().rstrip("=")


@never_cache
@login_required
def mfa_verify_page(request):
    if request.user.is_verified() or not user_has_device(request.user):
        return redirect(_next(request))
    error = ""
    if request.method == "POST":
        if mfa_verify(request=request, token=request.POST.get("token", "")):
            return redirect(_next(request))
        error = "That code is not right. Type the code your authenticator app shows now."
    return render(request, "accounts/mfa_verify.html", {"error": error, "next": _next(request)})


@login_required
def notification_list(request):
    page = Paginator(notification_list_for_user(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page": page})


@require_POST
@login_required
def notification_read(request):
    raw = request.POST.get("id", "")
    notification_mark_read(user=request.user, notification_id=int(raw) if raw.isdigit() else None)
    return redirect("accounts:notifications")
