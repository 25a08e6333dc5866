"""The systems list is paged, filterable, and exports the whole filtered list as CSV (issue 10)."""

import csv
import io
import re

import pytest

from apps.inventory.models import System

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<th scope="row"><a href="/systems/([\w-]+)/"')


@pytest.fixture
def many_systems(db):
    return System.objects.bulk_create(
        System(
            name=f"System {i:03}", slug=f"system-{i:03}", risk_tier="high" if i % 4 == 0 else "low",
            frameworks=["soc2"] if i % 2 else ["hipaa"],
        )
        for i in range(60)
    )  # fmt: skip


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_list_shows_fifty_systems_a_page_and_the_next_page_the_rest(client, compliance_officer, many_systems):
    client.force_login(compliance_officer)
    first = client.get("/systems/").content.decode()
    second = client.get("/systems/?page=2").content.decode()
    assert ROW.findall(first) == [f"system-{i:03}" for i in range(50)]
    assert ROW.findall(second) == [f"system-{i:03}" for i in range(50, 60)]
    assert "Page 1 of 2 (60 systems)" in first and 'href="?page=2"' in first


def test_filters_narrow_the_list_and_stay_in_the_page_links(client, compliance_officer, many_systems):
    client.force_login(compliance_officer)
    body = client.get("/systems/?risk_tier=low&framework=soc2").content.decode()
    slugs = ROW.findall(body)
    assert slugs and all(int(s[-3:]) % 2 == 1 and int(s[-3:]) % 4 != 0 for s in slugs)
    assert len(slugs) == 30  # odd numbers below 60 are soc2, and none is a multiple of 4
    assert "risk_tier=low&amp;framework=soc2&amp;format=csv" in body
    assert ROW.findall(client.get("/systems/?q=system-05").content.decode()) == [f"system-05{i}" for i in range(10)]


def test_the_partial_answers_htmx(client, compliance_officer, many_systems):
    client.force_login(compliance_officer)
    body = client.get("/systems/?page=2", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in body and 'id="results"' in body and len(ROW.findall(body)) == 10


def test_the_csv_is_the_whole_filtered_list_not_a_page(client, compliance_officer, many_systems):
    client.force_login(compliance_officer)
    everything = csv_rows(client.get("/systems/?format=csv&page=2"))
    assert [r["slug"] for r in everything] == [f"system-{i:03}" for i in range(60)]
    high = csv_rows(client.get("/systems/?format=csv&risk_tier=high"))
    assert {r["risk_tier"] for r in high} == {"high"} and len(high) == 15
    assert high[0]["link"] == "http://testserver/systems/system-000/"


def test_an_auditor_lists_and_exports_only_their_engagement_systems(client, make_user, many_systems):
    from tests.engagements.conftest import engaged_auditor

    in_scope = [s for s in many_systems if s.slug in ("system-003", "system-057")]
    client.force_login(engaged_auditor(make_user, in_scope))
    body = client.get("/systems/").content.decode()
    assert ROW.findall(body) == ["system-003", "system-057"] and "2 systems" in body
    assert [r["slug"] for r in csv_rows(client.get("/systems/?format=csv"))] == ["system-003", "system-057"]
    assert ROW.findall(client.get("/systems/?page=2").content.decode()) == ["system-003", "system-057"]  # clamped


def test_bad_filter_values_are_shown_and_do_not_filter(client, compliance_officer, many_systems):
    client.force_login(compliance_officer)
    body = client.get("/systems/?risk_tier=extreme").content.decode()
    assert 'role="alert"' in body and "extreme" in body
    assert len(ROW.findall(body)) == 50
