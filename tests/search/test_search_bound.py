"""The bound on a search's cost: per kind, only the newest CANDIDATES matches the user may see are ranked,
and a count beyond that says so ("N+"). Scoping applies before the bound, never after it."""

import csv
import io

import pytest

from apps.accounts.roles import Role
from apps.evidence.models import Evidence
from apps.inventory.models import System
from apps.search import registry
from apps.search.registry import search_for_user, search_page_for_user
from tests.engagements.conftest import open_engagement, world  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def quokkas(n: int, strong: dict[int, int] | None = None) -> list[System]:
    """n systems matching "quokka", oldest first; `strong` gives some of them extra occurrences (a better rank)."""
    strong = strong or {}
    return [
        System.objects.create(name=f"Quokka {i}", slug=f"qk-{i}", description=" ".join(["quokka"] * strong.get(i, 0)))
        for i in range(n)
    ]


def titles(hits) -> list[str]:
    return [h.title for h in hits]


def test_more_matches_than_the_cap_ranks_the_newest_and_says_the_count_is_capped(compliance_officer, monkeypatch):
    quokkas(7, strong={0: 6, 5: 3})  # the oldest one is the best match of all, but outside the newest four
    monkeypatch.setattr(registry, "CANDIDATES", 4)

    first = search_page_for_user(user=compliance_officer, text="quokka", kinds=["systems"], page=1, page_size=2)
    assert (first.count, first.capped, first.count_label, first.num_pages) == (4, True, "4+", 2)
    # best first within the candidates (3..6); equal ranks newest first
    assert titles(first.hits) == ["Quokka 5", "Quokka 6"] and first.hits[0].rank > first.hits[1].rank
    second = search_page_for_user(user=compliance_officer, text="quokka", kinds=["systems"], page=2, page_size=2)
    assert titles(second.hits) == ["Quokka 4", "Quokka 3"] and not second.has_next
    assert search_page_for_user(user=compliance_officer, text="quokka", kinds=["systems"], page=3).hits == []

    # under the cap nothing is left out: exact count, and the oldest (best) match comes first
    monkeypatch.setattr(registry, "CANDIDATES", 7)
    whole = search_page_for_user(user=compliance_officer, text="quokka", kinds=["systems"])
    assert (whole.count, whole.capped, whole.count_label) == (7, False, "7")
    assert titles(whole.hits)[:2] == ["Quokka 0", "Quokka 5"]


def test_the_cap_is_counted_per_kind_and_pages_merge_kinds_by_rank(compliance_officer, monkeypatch):
    quokkas(3, strong={1: 4})
    monkeypatch.setattr(registry, "CANDIDATES", 2)
    results = search_page_for_user(user=compliance_officer, text="quokka or cc8.1")
    kinds = {h.kind for h in results.hits}
    assert {"systems", "controls"} <= kinds and results.capped
    assert sum(h.kind == "systems" for h in results.hits) == 2  # the cap holds for systems…
    assert results.count == len(results.hits)  # …and the count is what was ranked, over all kinds
    assert [h.rank for h in results.hits] == sorted((h.rank for h in results.hits), reverse=True)


def test_the_bound_applies_after_scoping_so_an_auditor_gets_their_own_matches(make_user, monkeypatch):
    officer = make_user(Role.COMPLIANCE_OFFICER)
    auditor = make_user(Role.AUDITOR)
    mine = quokkas(2)  # the oldest matches
    others = [System.objects.create(name=f"Other quokka {i}", slug=f"other-{i}") for i in range(3)]
    open_engagement(officer, auditors=[auditor], systems=mine)
    monkeypatch.setattr(registry, "CANDIDATES", 2)

    seen = search_page_for_user(user=auditor, text="quokka", kinds=["systems"])
    assert sorted(titles(seen.hits)) == ["Quokka 0", "Quokka 1"] and (seen.count, seen.capped) == (2, False)
    everyone = search_page_for_user(user=officer, text="quokka", kinds=["systems"])
    assert sorted(titles(everyone.hits)) == sorted(s.name for s in others[1:]) and everyone.capped


def test_evidence_outside_an_auditors_window_or_systems_never_fills_the_candidates(world, monkeypatch):  # noqa: F811
    text = " or ".join(e.format for e in (world.evidence_in, world.evidence_old, world.evidence_out))
    officer = search_for_user(user=world.officer, text=text, kinds=["evidence"])
    assert {h.url for h in officer} >= {world.evidence_old.get_absolute_url(), world.evidence_out.get_absolute_url()}
    monkeypatch.setattr(registry, "CANDIDATES", 1)  # the newest matching evidence overall is out of scope
    seen = search_page_for_user(user=world.auditor_in, text=text, kinds=["evidence"])
    in_scope = {e.get_absolute_url() for e in Evidence.objects.filter(receipt=world.evidence_in.receipt_id)}
    assert seen.count == 1 and {h.url for h in seen.hits} <= in_scope
    assert search_page_for_user(user=world.auditor_ended, text=text).count == 0


def test_page_api_and_csv_show_the_capped_count_and_pages(client, compliance_officer, monkeypatch):
    quokkas(5, strong={2: 2})
    monkeypatch.setattr(registry, "CANDIDATES", 3)
    monkeypatch.setattr(registry, "PAGE_SIZE", 2)
    client.force_login(compliance_officer)

    html = client.get("/search/?q=quokka&kind=systems").content.decode()
    assert 'data-count="3" data-capped' in html and "3+ results" in html
    assert html.count("data-hit=") == 2 and "page=2" in html and "Page 1 of 2" in html
    second = client.get("/search/?q=quokka&kind=systems&page=2").content.decode()
    assert second.count("data-hit=") == 1 and "Page 2 of 2" in second
    assert client.get("/search/?q=quokka&page=zero").status_code == 400

    download = client.get("/search/?q=quokka&kind=systems&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [r[1] for r in rows[1:]] == ["Quokka 2", "Quokka 4", "Quokka 3"]  # every ranked candidate, best first

    api = client.get("/api/v1/search?q=quokka&kind=systems")
    assert api.status_code == 200 and api["X-Result-Count"] == "3+"
    assert [h["title"] for h in api.json()] == ["Quokka 2", "Quokka 4"]
    assert [h["title"] for h in client.get("/api/v1/search?q=quokka&kind=systems&page=2").json()] == ["Quokka 3"]
    assert client.get("/api/v1/search?q=quokka&page=-1").status_code == 400
