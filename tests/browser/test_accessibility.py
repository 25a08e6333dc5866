"""Issue 21: axe-core finds no violation on any page type (lists, details, forms, home, 403 and 404) for
each role, on the seeded demo. axe-core comes from npm (package.json, `npm ci`); it is injected into a
browser context that bypasses CSP for that injection only (the pages themselves keep their policy, which
tests/browser/test_content_security_policy.py checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from apps.engagements.models import Engagement
from apps.evidence.models import Artifact, Evidence
from apps.exceptions.models import ExceptionRequest
from apps.ingest.models import Receipt, Source
from apps.inventory.models import System
from apps.ledger.models import LedgerEntry
from apps.policy.models import Control, Rule
from apps.releases.models import ReleaseSignoff
from apps.retention.models import LegalHold
from tests.dashboard.demo_browser import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA plus axe's best practices: what the "0 violations" means.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _first_url(model, **filters) -> str | None:
    obj = model.objects.filter(**filters).order_by("pk").first()
    return obj.get_absolute_url() if obj else None


def _page_types() -> dict[str, str]:
    """One URL per page type (the demo's first object of each kind)."""
    control = Control.objects.order_by("pk").first()
    entry = LedgerEntry.objects.order_by("index").first()
    system = System.objects.order_by("pk").first()
    urls = {
        "home": "/",
        "search": reverse("search:search") + "?q=model",
        "evidence list": reverse("evidence:list"),
        "evidence detail": _first_url(Evidence),
        "artifact detail": _first_url(Artifact),
        "system list": reverse("inventory:list"),
        "system detail": system.get_absolute_url(),
        "system form": reverse("inventory:edit", kwargs={"slug": system.slug}),
        "control list": reverse("policy:control_list"),
        "control detail": control.get_absolute_url(),
        "rule list": reverse("policy:rule_list"),
        "rule detail": _first_url(Rule),
        "rule form": reverse("policy:rule_create"),
        "exception list": reverse("exceptions:list"),
        "exception inbox": reverse("exceptions:inbox"),
        "exception detail": _first_url(ExceptionRequest),
        "exception form": reverse("exceptions:new"),
        "ledger list": reverse("ledger:list"),
        "ledger detail": reverse("ledger:detail", kwargs={"index": entry.index}),
        "release list": reverse("releases:list"),
        "release detail": _first_url(ReleaseSignoff),
        "retention report": reverse("retention:report"),
        "hold detail": _first_url(LegalHold),
        "hold form": reverse("retention:hold_create"),
        "engagement list": reverse("engagements:list"),
        "engagement detail": _first_url(Engagement),
        "engagement form": reverse("engagements:create"),
        "source list": reverse("ingest:source_list"),
        "source detail": _first_url(Source),
        "source form": reverse("ingest:source_create"),
        "receipt list": reverse("ingest:receipt_list"),
        "receipt detail": _first_url(Receipt),
        "pack list": reverse("packs:list"),
        "notifications": reverse("accounts:notifications"),
        "not found": "/no-such-page/",
    }
    return {name: url for name, url in urls.items() if url}


# The compliance officer and the auditor open every page type (the auditor meets 403 pages on the ones it
# may not open, and axe checks those too); the other roles open the pages that differ for them.
EVERY_PAGE = ("compliance", "auditor")
ROLE_PAGES = {
    "admin": ("home", "source list", "source form", "system form", "receipt list"),
    "engineer": ("home", "exception form", "exception list", "evidence list"),
    "riskowner": ("home", "exception inbox", "exception detail", "release list"),
}


def _violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map("
        "v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))",
        AXE_TAGS,
    )
    return list(found)


def test_axe_finds_no_violation_on_any_page_type_for_any_role(live_server, browser, settings):
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` (make venv does)"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo")
    base = live_server.url
    pages = _page_types()
    problems: dict[str, list[str]] = {}
    statuses: set[int] = set()
    for role in (*EVERY_PAGE, *ROLE_PAGES):
        wanted = pages if role in EVERY_PAGE else {n: pages[n] for n in ROLE_PAGES[role] if n in pages}
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        sign_in(page, base, role)
        error_pages_checked: set[int] = set()
        for name, url in wanted.items():
            response = page.goto(f"{base}{url}")
            statuses.add(response.status)
            if response.status >= 400:
                # Every 403 (or 404) page of a role is the same template with the same words: one is enough.
                if response.status in error_pages_checked:
                    continue
                error_pages_checked.add(response.status)
            found = _violations(page)
            if found:
                problems[f"{role} {name} {url} ({response.status})"] = found
        if role == "compliance":
            page.goto(f"{base}{reverse('inventory:list')}?sort=-tier")
            shot(page, "systems-sorted-by-tier")
            page.goto(f"{base}{reverse('ledger:list')}")
            shot(page, "ledger-list")
        context.close()
    # The set of pages covers the error types too: an auditor meets a 403, everyone a 404.
    assert {200, 403, 404} <= statuses
    assert problems == {}, "\n".join(f"{where}:\n  " + "\n  ".join(v) for where, v in problems.items())
