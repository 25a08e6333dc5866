"""Pages of the approval engine: step-up re-authentication before a decision."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from apps.approvals.forms import ReauthForm
from apps.approvals.reauth import credentials_check, reauth_record, reauth_window, user_needs_otp
from apps.approvals.refusals import reauth_failure_record

# Where to go back to by default: the shared Approvals inbox (served by the exceptions app; named, not imported).
INBOX = "exceptions:inbox"


# ---------------------------------------------------------------- re-authentication


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or reverse(INBOX)
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return reverse(INBOX)
    return target


@never_cache
@login_required
def reauthenticate(request):
    """Re-enter the password (and TOTP code, if enrolled) before signing off."""
    form = ReauthForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        ok, error = credentials_check(
            request=request,
            user=request.user,
            password=form.cleaned_data["password"],
            otp_token=form.cleaned_data.get("otp_token", ""),
        )
        if ok:
            reauth_record(request)
            return redirect(_next(request))
        reauth_failure_record(user=request.user, why=error, path=_next(request))
    return render(
        request,
        "approvals/reauth.html",
        {
            "form": form,
            "error": error,
            "next": _next(request),
            "needs_otp": user_needs_otp(request.user),
            "minutes": int(reauth_window().total_seconds() // 60),
        },
        status=400 if error else 200,
    )
