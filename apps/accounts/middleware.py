"""Per-request account checks: idle sessions end, and a second factor where it is required."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.mfa import MFA_ENROLLED_KEY, mfa_required_for, user_has_device

# Reachable while signed in but not yet through the second factor.
_MFA_EXEMPT_NAMES = ("accounts:mfa_verify", "accounts:mfa_setup", "accounts:logout", "accounts:login")
_LAST_SEEN = "portal_last_seen"


class SessionIdleTimeoutMiddleware:
    """A session unused for PORTAL_SESSION_IDLE_SECONDS ends (the cookie age bounds it absolutely)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            last = request.session.get(_LAST_SEEN)
            if last is not None and now - last > settings.PORTAL_SESSION_IDLE_SECONDS:
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse({"error": "the session ended after inactivity; sign in again"}, status=401)
                return redirect(f"{reverse(settings.LOGIN_URL)}?next={request.path}")
            if last is None or now - last >= 60:  # write the session at most once a minute
                request.session[_LAST_SEEN] = now
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Signed-in users who must (their role) or can (they enrolled) use a second factor verify first."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt: tuple[str, ...] | None = None

    def _exempt_paths(self) -> tuple[str, ...]:
        if self._exempt is None:
            self._exempt = tuple(reverse(name) for name in _MFA_EXEMPT_NAMES)
        return self._exempt

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and request.path not in self._exempt_paths()
            and not request.path.startswith(f"/{settings.STATIC_URL.strip('/')}/")
            and request.path != "/healthz"
        ):
            enrolled = request.session.get(MFA_ENROLLED_KEY)
            if enrolled is None:  # a session from before sign-in recorded it: look once, then remember
                enrolled = request.session[MFA_ENROLLED_KEY] = user_has_device(user)
            if enrolled or mfa_required_for(user):
                if request.path.startswith("/api/"):
                    return JsonResponse(
                        {"error": "a second factor is required: verify in the portal first"}, status=403
                    )
                target = "accounts:mfa_verify" if enrolled else "accounts:mfa_setup"
                return redirect(f"{reverse(target)}?next={request.get_full_path()}")
        return self.get_response(request)
