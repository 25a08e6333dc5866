"""Screenshot the pages of a running portal (`make run`) in headless Chromium, as each demo role.

    .venv/bin/python scripts/screenshots.py [BASE_URL] [OUT_DIR]

Pages: see PAGES below. Writes PNGs named <role>-<page>.png; used for docs/screenshots and
for looking at what a person sees after a change.
"""

import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "var/screenshots")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {
    "compliance": ["/", "/systems/", "/systems/?risk_tier=high", "/systems/credit-scoring/", "/systems/new/",
                   "/evidence/", "/search/?q=payments", "/ledger/", "/exceptions/", "/exceptions/1/", "/exceptions/3/",
                   "/engagements/1/"],
    "auditor": ["/", "/systems/", "/evidence/", "/search/?q=payments", "/ledger/", "/engagements/1/",
                "/engagements/1/requests/2/"],
    "riskowner": ["/", "/exceptions/inbox/", "/exceptions/reauthenticate/"],
    "engineer": ["/", "/systems/payments-api/", "/exceptions/new/?system=credit-scoring"],
    "admin": ["/"],
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{BASE}/accounts/login/")
        page.screenshot(path=OUT / "login.png", full_page=True)
        for user, paths in PAGES.items():
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.goto(f"{BASE}/accounts/login/")
            page.get_by_label("Username").fill(user)
            page.get_by_label("Password").fill(f"portal-demo-{user}")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{BASE}/")
            for path in paths:
                page.goto(f"{BASE}{path}")
                page.wait_for_load_state("networkidle")
                name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.strip("/")).strip("-") or "home"
                page.screenshot(path=OUT / f"{user}-{name}.png", full_page=True)
                print(OUT / f"{user}-{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
