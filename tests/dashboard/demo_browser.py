"""What the browser tests on the seeded demo share: signing in as a demo user, and optional screenshots
(PORTAL_SHOTS_DIR keeps full-page PNGs for a reviewer; no assertion depends on them)."""

from __future__ import annotations

import os
from pathlib import Path

SHOTS = os.environ.get("PORTAL_SHOTS_DIR", "")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(page, base: str, username: str) -> None:
    """Sign in through the login page with the demo's password for `username`."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"portal-demo-{username}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
