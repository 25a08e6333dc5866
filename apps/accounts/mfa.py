"""The TOTP second factor (django-otp): who needs it, enrolment with an offline QR code, verification."""

from __future__ import annotations

import time
from io import BytesIO

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.ledger.services import ledger_record

# Session key: whether the signed-in user has a confirmed device (set at sign-in and at enrolment,
# so the per-request check costs no query).
MFA_ENROLLED_KEY = "portal_mfa_enrolled"


def mfa_remember_enrolment(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: note in the session whether this user has to verify a second factor."""
    if hasattr(request, "session"):
        request.session[MFA_ENROLLED_KEY] = user_has_device(user)
        request.session["portal_last_seen"] = int(time.time())  # the idle clock starts at sign-in


def mfa_required_for(user) -> bool:
    """Users whose roles (or superuser status) make a second factor mandatory here."""
    required = set(settings.PORTAL_MFA_REQUIRED_ROLES)
    if not required:
        return False
    return bool(user.roles & required) or (user.is_superuser and "admin" in required)


def user_has_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def mfa_pending_device(user) -> TOTPDevice:
    """The user's unconfirmed TOTP device (made once; shown as a QR code until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    return device


def mfa_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an SVG QR code, made here (no outside service sees the secret)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]  # drop the XML declaration so it can sit inside HTML


@transaction.atomic
def mfa_confirm(*, request, device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolment with a first valid code; the session is then verified."""
    if not device.verify_token(token.strip()):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    request.session[MFA_ENROLLED_KEY] = True
    ledger_record(
        actor=request.user,
        action="user.mfa_enrolled",
        target=request.user,
        data={"username": request.user.username, "device": device.persistent_id},
    )
    return True


def mfa_verify(*, request, token: str) -> bool:
    """Check a code against the user's confirmed devices (each device throttles failures)."""
    for device in devices_for_user(request.user, confirmed=True):
        if device.verify_token(token.strip()):
            otp_login(request, device)
            return True
    return False
