"""Issue 21: the engagement's "Browse the evidence in scope" opens the list filtered to that engagement."""

from __future__ import annotations

import re
from html import unescape

import pytest

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
