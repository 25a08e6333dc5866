"""Security headers, login throttling and lockout, the TOTP second factor, session expiry."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.roles import Role
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_pages_carry_a_content_security_policy_without_inline_scripts(client, engineer):
    client.force_login(engineer)
    policy = _csp(client.get("/"))
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert all(source == "'self'" or source.startswith("'sha256-") for source in policy["style-src"])
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]


def test_the_standard_security_headers_are_set(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_template_runs_inline_script_or_inline_style():
    """The CSP forbids them, so a template that has one is broken in the browser: catch it here."""
    offenders = []
    for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("apps/*/templates/**/*.html")]:
        if "/pdf/" in str(path):  # print templates for WeasyPrint, never served to a browser
            continue
        text = path.read_text()
        for pattern, what in (
            (r"<script(?![^>]*\bsrc=)[^>]*>", "inline <script>"),
            (r"\son[a-z]+\s*=\s*[\"']", "event handler attribute"),
            (r"<style[\s>]", "<style> element"),
            (r"\sstyle\s*=\s*[\"']", "style= attribute"),
            (r"javascript:", "javascript: URL"),
        ):
            if re.search(pattern, text, flags=re.I):
                offenders.append(f"{path.relative_to(ROOT)}: {what}")
    assert not offenders, "\n".join(offenders)


def _login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="10.0.0.7")


def test_repeated_wrong_passwords_lock_the_account_out_even_for_the_right_one(client, engineer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        assert _login(client, engineer.username, "wrong-password-123").status_code in (200, 429)
    locked = _login(client, engineer.username, TEST_PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_correct_password_before_the_limit_signs_in_and_resets(client, engineer):
    assert _login(client, engineer.username, "wrong-password-123").status_code == 200
    assert _login(client, engineer.username, TEST_PASSWORD).status_code == 302


def test_required_roles_must_enrol_a_second_factor_then_verify(client, make_user, settings):
    settings.PORTAL_MFA_REQUIRED_ROLES = ["admin", "risk_owner"]
    owner = make_user(Role.RISK_OWNER)
    client.force_login(owner)
    response = client.get("/systems/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/mfa/setup/")
    assert client.get("/api/v1/systems/").status_code == 403
    page = client.get("/accounts/mfa/setup/")
    assert page.status_code == 200 and "<svg" in page.content.decode()  # the QR code, drawn here
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert client.post("/accounts/mfa/setup/", {"token": "000000"}).status_code == 200  # wrong code: stays
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # each failure makes the next try wait longer
    device.throttle_reset()
    token = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    assert client.post("/accounts/mfa/setup/", {"token": token, "next": "/systems/"})["Location"] == "/systems/"
    assert client.get("/systems/").status_code == 200
    # a new session has to verify again
    client.logout()
    client.force_login(owner)
    assert client.get("/systems/")["Location"].startswith("/accounts/mfa/")


def test_roles_without_the_requirement_are_not_asked(client, engineer, settings):
    settings.PORTAL_MFA_REQUIRED_ROLES = ["admin", "risk_owner"]
    client.force_login(engineer)
    assert client.get("/systems/").status_code == 200


def test_an_idle_session_ends(client, engineer, settings):
    client.force_login(engineer)
    assert client.get("/systems/").status_code == 200
    session = client.session
    session["portal_last_seen"] = int(time.time()) - settings.PORTAL_SESSION_IDLE_SECONDS - 5
    session.save()
    response = client.get("/systems/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/systems/").status_code == 302  # signed out for good


def test_csv_exports_neutralise_spreadsheet_formulas():
    from compliance_portal.csv_export import csv_cell

    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("plain") == "plain"


# ---------------------------------------------------------------- issue 23
@pytest.mark.parametrize(("claims", "matches"), [
    ({"email": "cso@example.org", "email_verified": True}, True),
    ({"email": "cso@example.org", "email_verified": False}, False),
    ({"email": "cso@example.org"}, False),  # the IdP did not say it verified the address: unverified
    ({"email": "cso@example.org", "email_verified": "true"}, False),  # only a JSON true counts
])
def test_single_sign_on_matches_a_user_only_by_an_e_mail_the_idp_verified(make_user, claims, matches):
    from django.contrib.auth import get_user_model

    from apps.accounts.oidc import PortalOIDCBackend

    make_user(Role.COMPLIANCE_OFFICER, username="cso", email="cso@example.org")
    backend = object.__new__(PortalOIDCBackend)  # no OIDC endpoints needed for the claim check
    backend.UserModel = get_user_model()
    assert [u.username for u in backend.filter_users_by_claims(claims)] == (["cso"] if matches else [])
