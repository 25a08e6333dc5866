"""Issue 21, as tried in the browser: the demo auditor (`make run`, auditor / portal-demo-auditor) is scoped by
their two engagements to five of the demo's systems, and no page they open names another system or its sources.

test_auditor_scope_content.py checks every page of the authorization matrix on a two-system world; this
module replays the report itself on the demo data: the System and Source menus of /evidence/ listed every
system and source of the organisation."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(seeded_demo, django_db_blocker):
    """Who the demo auditor is and what they may and may not see, read once for the module."""
    with django_db_blocker.unblock():
        return _demo_scope()


def _demo_scope():
    from apps.accounts.models import User
    from apps.engagements.models import Engagement
    from apps.ingest.models import Source
    from apps.inventory.models import System

    auditor = User.objects.get(username="auditor")
    engagements = list(Engagement.objects.filter(auditors=auditor))
    in_scope = System.objects.filter(engagements__in=engagements).distinct()
    hidden = System.objects.exclude(pk__in=in_scope.values("pk"))
    hidden_sources = Source.objects.filter(system__in=hidden)
    assert hidden.exists() and hidden_sources.exists()  # the demo has systems the auditor must not see
    names = [n for s in hidden for n in (s.slug, s.name)] + list(hidden_sources.values_list("name", flat=True))
    return auditor, engagements, set(in_scope.values_list("slug", flat=True)), names


def _named(body: str, names: list[str]) -> list[str]:
    return [n for n in names if re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", body, re.I)]


def _menu(body: str, name: str) -> str:
    return re.search(rf'<select name="{name}".*?</select>', body, re.S).group(0)


def test_the_demo_auditors_evidence_menus_list_only_their_systems_and_sources(client, demo):
    auditor, _engagements, in_scope, hidden = demo
    client.force_login(auditor)
    body = client.get("/evidence/").content.decode()
    systems = set(re.findall(r'<option value="([^"]+)"', _menu(body, "system")))
    assert systems == in_scope
    assert not _named(_menu(body, "source"), hidden)
    assert not _named(body, hidden)


def test_no_page_the_demo_auditor_opens_names_a_system_outside_their_engagements(client, demo):
    from apps.evidence.selectors import artifact_list_for_user

    auditor, engagements, in_scope, hidden = demo
    client.force_login(auditor)
    pages = ["/", "/systems/", "/controls/", "/controls/soc2-cc7-1/", "/controls/hipaa-164-312-b/", "/exceptions/",
             "/releases/", "/packs/", "/engagements/", "/ledger/", "/search/?q=model", "/search/?q=site",
             "/evidence/?control=soc2-cc7-1", "/evidence/?format=csv", "/api/v1/evidence", "/api/v1/systems/"]
    pages += [f"/systems/{slug}/" for slug in sorted(in_scope)]
    for engagement in engagements:
        pages += [f"/engagements/{engagement.pk}/", f"/engagements/{engagement.pk}/reviews/"]
    for pk in artifact_list_for_user(user=auditor).order_by("pk").values_list("pk", flat=True)[:3]:
        pages += [f"/evidence/artifacts/{pk}/", f"/evidence/artifacts/{pk}/lineage/"]
    leaks = {}
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        if named := _named(body, hidden):
            leaks[page] = named
    assert not leaks


def test_the_demo_engagements_evidence_link_lists_only_that_engagements_systems(client, demo):
    """The SOC 2 engagement's link named its window only: the list held the HIPAA engagement's systems too."""
    from html import unescape

    from apps.evidence.models import Evidence

    auditor, engagements, _in_scope, _hidden = demo
    soc2 = next(e for e in engagements if e.frameworks == ["soc2"])
    own = set(soc2.systems.values_list("name", flat=True))
    client.force_login(auditor)
    body = client.get(f"/engagements/{soc2.pk}/").content.decode()
    link = unescape(re.search(r'<a href="([^"]*)">Browse the evidence in scope', body).group(1))
    listed = client.get(link).content.decode()
    shown = {unescape(n) for n in re.findall(r'<td><a href="/systems/[^"]+/">([^<]+)</a></td>', listed)}
    assert shown and shown <= own
    assert Evidence.objects.exclude(system__in=soc2.systems.all()).filter(
        system__engagements__in=engagements).exists()  # the auditor does see other systems' evidence
