"""Issue 21: the engagement's "Browse the evidence in scope" opens the list filtered to that engagement."""

from __future__ import annotations

import re
from html import unescape

import pytest

from apps.evidence.selectors import evidence_list_for_user

pytestmark = pytest.mark.django_db


def test_browse_the_evidence_in_scope_opens_the_list_of_the_engagements_system_and_window(client, world):
    client.force_login(world.auditor_in)
    body = client.get(f"/engagements/{world.engagement.pk}/").content.decode()
    link = unescape(re.search(r'<a href="([^"]*)">Browse the evidence in scope', body).group(1))
    assert link.startswith("/evidence/?")
    assert f"system={world.system_in.slug}" in link and "since=" in link and "until=" in link
    listed = client.get(link).content.decode()
    assert f'href="/evidence/{world.evidence_in.pk}/"' in listed
    assert f'href="/evidence/{world.evidence_old.pk}/"' not in listed


def test_browse_the_evidence_of_a_several_system_engagement_lists_only_its_systems(client, world):
    """With two systems the link named only the window: the list showed the evidence of every system the
    auditor sees in it, those of their other engagements included (the demo's SOC 2 link listed the HIPAA ones)."""
    from apps.inventory.models import System
    from tests.engagements.conftest import DAY, open_engagement, parsed_upload

    assert world.evidence_out.pk in {e.pk for e in evidence_list_for_user(user=world.auditor_out)}

    third = System.objects.create(name="Fraud Detection", slug="fraud-detection", risk_tier="high")
    evidence_third = parsed_upload(world.source, "junit_pytest.xml", system=third,
                                   effective_at=world.evidence_in.effective_at - DAY)
    # auditor_out also audits the other system (engagement_out), within the same window
    engagement = open_engagement(world.officer, auditors=[world.auditor_out], systems=[world.system_in, third],
                                 name="Two systems")
    client.force_login(world.auditor_out)
    body = client.get(f"/engagements/{engagement.pk}/").content.decode()
    link = unescape(re.search(r'<a href="([^"]*)">Browse the evidence in scope', body).group(1))
    assert f"system={world.system_in.slug}" in link and f"system={third.slug}" in link
    listed = client.get(link).content.decode()
    assert f'href="/evidence/{world.evidence_in.pk}/"' in listed
    assert f'href="/evidence/{evidence_third.pk}/"' in listed
    assert f'href="/evidence/{world.evidence_out.pk}/"' not in listed  # same window, their other engagement
    assert f'href="/evidence/{world.evidence_old.pk}/"' not in listed  # before the window
    menu = re.search(r'<select name="system".*?</select>', listed, re.S).group(0)
    assert len(re.findall(r"<option [^>]*selected", menu)) == 2  # the menu shows both systems chosen


def test_the_evidence_list_and_api_take_several_systems(client, world):
    client.force_login(world.officer)
    query = {"system": [world.system_in.slug, world.system_out.slug]}
    listed = client.get("/evidence/", query).content.decode()
    for evidence in (world.evidence_in, world.evidence_old, world.evidence_out):
        assert f'href="/evidence/{evidence.pk}/"' in listed
    rows = client.get("/api/v1/evidence", {"system": [world.system_out.slug]}).json()["results"]
    assert {int(r["id"]) for r in rows} == {world.evidence_out.pk}
    rows = client.get("/api/v1/evidence", query).json()["results"]
    assert {int(r["id"]) for r in rows} == {world.evidence_in.pk, world.evidence_old.pk, world.evidence_out.pk}
