"""Step-up re-authentication for sign-off: a fresh password (and TOTP code, where the user has one).

The page stores the time of the last successful re-entry in the session; a decision
service receives that time and refuses it when older than PORTAL_EXCEPTION_REAUTH_MINUTES
(services.ensure_recent_reauth), so the rule holds for the HTML and the API alike. The API
may instead send `password` (and `otp_token`) with the decision.

TOTP: when django-otp is installed (`django_otp` in INSTALLED_APPS) and the user has a
confirmed device, a code is required as well; otherwise the password alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django_otp import devices_for_user

from apps.approvals.refusals import reauth_failure_record

SESSION_KEY = "portal_reauth_at"


def otp_available() -> bool:
    return apps.is_installed("django_otp")


def user_needs_otp(user) -> bool:
    """True when django-otp is installed and the user has a confirmed device."""
    if not otp_available():
        return False

    return any(True for _ in devices_for_user(user, confirmed=True))


def _otp_ok(user, token: str) -> bool:
    token = (token or "").strip()
    if not token:
        return False
    return any(device.verify_token(token) for device in devices_for_user(user, confirmed=True))


def credentials_check(*, request, user, password: str, otp_token: str = "") -> tuple[bool, str]:
    """Check a re-entered password (and code); (ok, message saying what is wrong)."""
    if not password or authenticate(request, username=user.get_username(), password=password) is None:
        # authenticate() goes through django-axes: repeated failures lock the account out too.
        return False, "That password is not right."
    if user_needs_otp(user) and not _otp_ok(user, otp_token):
        return False, "Type the code your authenticator app shows now."
    return True, ""


def reauth_record(request, *, now: datetime | None = None) -> datetime:
    """Remember in the session that the user has just re-authenticated."""
    now = now or timezone.now()
    request.session[SESSION_KEY] = now.timestamp()
    request.session.cycle_key()  # a fresh session id after a privilege step-up
    return now


def reauth_time(request) -> datetime | None:
    """When the session last re-authenticated (None if never)."""
    raw = getattr(request, "session", {}).get(SESSION_KEY)
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def reauth_for_decision(request, *, password: str = "", otp_token: str = "", target=None) -> datetime | None:
    """For an API decision: a re-authentication made now from a password (and code) sent with it,
    else the session's last one. A wrong password is refused (and counts towards the lockout) and
    recorded in the ledger as a security event about `target`."""
    if password:
        ok, message = credentials_check(request=request, user=request.user, password=password, otp_token=otp_token)
        if not ok:
            reauth_failure_record(user=request.user, why=message, target=target, path=request.path)
            raise PermissionDenied(f"Re-authentication failed: {message}")
        return timezone.now()
    return reauth_time(request)


def reauth_window() -> timedelta:
    return timedelta(minutes=settings.PORTAL_EXCEPTION_REAUTH_MINUTES)


def reauth_is_fresh(at: datetime | None, *, now: datetime | None = None) -> bool:
    if at is None:
        return False
    age = (now or timezone.now()) - at
    # A few seconds into the future is clock skew between web processes, not a forgery (the session is ours).
    return -timedelta(seconds=5) <= age <= reauth_window()


def ensure_recent_reauth(at: datetime | None, *, now: datetime | None = None) -> None:
    if not reauth_is_fresh(at, now=now):
        raise PermissionDenied(
            f"Re-authenticate (password{' and code' if otp_available() else ''}) within the last "
            f"{settings.PORTAL_EXCEPTION_REAUTH_MINUTES} minutes before signing off."
        )
