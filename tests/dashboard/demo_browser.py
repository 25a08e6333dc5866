"""What browser tests share: signing in through the login page (as a demo user by default), and optional
screenshots (PORTAL_SHOTS_DIR keeps full-page PNGs for a reviewer; no assertion depends on them)."""

from __future__ import annotations

import os
from pathlib import Path

SHOTS = os.environ.get("PORTAL_SHOTS_DIR", "")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(page, base: str, username: str, password: str | None = None) -> None:
    """Sign in through the login page as `username`, with the demo's password for them unless given."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or f"portal-demo-{username}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
