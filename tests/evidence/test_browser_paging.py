"""The evidence browser pages by keyset and counts up to a cap (issue 10: pages must not grow with the data)."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.evidence import selectors, views
from apps.evidence.models import Evidence
from apps.evidence.selectors import Cursor, evidence_kinds
from tests.engagements.conftest import DAY, world  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

OLDER = re.compile(r'href="\?([^"]*after=[^"]*)" [^>]*rel="next"')
NEWER = re.compile(r'href="\?([^"]*before=[^"]*)" [^>]*rel="prev"')
ROW = re.compile(r'<th scope="row"[^>]*><a href="/evidence/(\d+)/"')


def add_rows(template: Evidence, n: int, *, start, step=timedelta(hours=1), tie_every=3, **fields) -> list[Evidence]:
    """n more evidence rows like `template` (incidental rows: only their order and scope matter).

    Every `tie_every`-th row shares the previous row's effective time, so pages must break ties by id."""
    base = Evidence.objects.filter(receipt=template.receipt).order_by("-ordinal").first().ordinal
    rows, at = [], start
    for i in range(n):
        if i % tie_every:
            at = at - step
        rows.append(
            Evidence(
                receipt=template.receipt, generation=template.generation, ordinal=base + 1 + i,
                source=template.source, system=fields.get("system", template.system), subject=template.subject,
                kind=fields.get("kind", "pipeline-run"), format="generic", title=f"row {i}", verdict="pass",
                received_at=at, effective_at=at, effective_basis="content", sha256=template.sha256,
            )
        )  # fmt: skip
    return Evidence.objects.bulk_create(rows)


def page_ids(body: str) -> list[int]:
    return [int(x) for x in ROW.findall(body)]


def walk(client, first_url: str, link: re.Pattern) -> list[list[int]]:
    pages, url = [], first_url
    for _ in range(100):
        body = client.get(url).content.decode()
        pages.append(page_ids(body))
        found = link.search(body)
        if not found:
            return pages
        url = "/evidence/?" + found[1].replace("&amp;", "&")
    raise AssertionError("the pager never ended")


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    monkeypatch.setattr(selectors, "COUNT_CAP", 7)


def test_older_links_walk_every_row_once_in_list_order_past_the_count_cap(
    client, compliance_officer, parsed_evidence, small_pages
):
    add_rows(Evidence.objects.first(), 23, start=timezone.now())
    client.force_login(compliance_officer)
    expected = list(Evidence.objects.order_by("-effective_at", "-id").values_list("id", flat=True))
    assert len(expected) == 27  # 4 parsed + 23

    pages = walk(client, "/evidence/", OLDER)

    assert [i for p in pages for i in p] == expected  # ties on effective_at broken by id: none lost or repeated
    assert [len(p) for p in pages] == [5, 5, 5, 5, 5, 2]  # well past the cap of 7
    first = client.get("/evidence/").content.decode()
    assert "7+ items" in first and 'rel="prev"' not in first and 'rel="first"' not in first


def test_newer_links_walk_back_to_the_newest_page(client, compliance_officer, parsed_evidence, small_pages):
    add_rows(Evidence.objects.first(), 23, start=timezone.now())
    client.force_login(compliance_officer)
    expected = list(Evidence.objects.order_by("-effective_at", "-id").values_list("id", flat=True))
    last = expected[-1]
    cursor = Cursor.of(Evidence.objects.get(pk=last))

    pages = walk(client, f"/evidence/?before={cursor}", NEWER)

    assert [i for p in reversed(pages) for i in p] == expected[:-1]  # everything newer than the last row
    newest = client.get(f"/evidence/?before={cursor}").content.decode()
    assert 'rel="first"' in newest  # a cursor page always offers the newest page


def test_count_is_exact_below_the_cap(client, compliance_officer, parsed_evidence, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    add_rows(Evidence.objects.first(), 8, start=timezone.now())
    client.force_login(compliance_officer)
    body = client.get("/evidence/").content.decode()
    assert "12 items, 5 on this page" in body and "+ items" not in body
    assert "1 item" in client.get("/evidence/?kind=sbom").content.decode()


def test_pages_keep_the_filters_in_their_links(client, compliance_officer, parsed_evidence, small_pages):
    add_rows(Evidence.objects.first(), 12, start=timezone.now(), kind="deploy-check")
    client.force_login(compliance_officer)
    body = client.get("/evidence/?kind=deploy-check&verdict=pass").content.decode()
    older = OLDER.search(body)[1].replace("&amp;", "&")
    assert "kind=deploy-check" in older and "verdict=pass" in older and "page=" not in older
    second = client.get("/evidence/?" + older).content.decode()
    assert set(Evidence.objects.filter(pk__in=page_ids(second)).values_list("kind", flat=True)) == {"deploy-check"}
    assert "format=csv" in second and "kind=deploy-check" in re.search(r'href="\?([^"]*format=csv)"', second)[1]


@pytest.mark.parametrize(
    "query", ["after=garbage", "before=12.x", "after=1.1&before=1.1", "after=99999999999999999999.1"]
)
def test_a_bad_cursor_is_refused_with_a_400_that_says_why(client, compliance_officer, parsed_evidence, query):
    client.force_login(compliance_officer)
    response = client.get(f"/evidence/?{query}")
    assert response.status_code == 400 and b"cursor" in response.content


def test_the_csv_export_streams_the_whole_filtered_list_not_a_page(
    client, compliance_officer, parsed_evidence, small_pages
):
    add_rows(Evidence.objects.first(), 12, start=timezone.now(), kind="deploy-check")
    client.force_login(compliance_officer)
    response = client.get("/evidence/?kind=deploy-check&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 12 and {r["kind"] for r in rows} == {"deploy-check"}


def test_an_auditor_pages_only_through_their_engagement_scope(client, world, small_pages, monkeypatch):  # noqa: F811
    """Cursors are positions, not grants: a cursor taken from an out-of-scope row shows only in-scope rows."""
    now = timezone.now()
    inside = add_rows(world.evidence_in, 9, start=now - 20 * DAY, step=timedelta(days=1))  # system_in, in window
    add_rows(world.evidence_in, 6, start=now - 300 * DAY, step=timedelta(days=1))  # system_in, before the window
    outside = add_rows(world.evidence_out, 9, start=now - 20 * DAY, step=timedelta(days=1))  # another system
    client.force_login(world.auditor_in)
    visible = {world.evidence_in.pk, *(e.pk for e in inside)}

    seen = [i for p in walk(client, "/evidence/", OLDER) for i in p]
    assert sorted(seen) == sorted(visible)
    assert "7+ items" in client.get("/evidence/").content.decode()
    monkeypatch.setattr(selectors, "COUNT_CAP", 100)
    assert "10 items" in client.get("/evidence/").content.decode()  # the count is scoped too

    for cursor in (Cursor.of(outside[0]), Cursor.of(world.evidence_old), Cursor(now + DAY, 0)):
        for side in ("after", "before"):
            ids = page_ids(client.get(f"/evidence/?{side}={cursor}").content.decode())
            assert set(ids) <= visible
    assert page_ids(client.get("/evidence/?system=credit-scoring").content.decode()) == []


def test_kinds_of_the_filter_are_the_distinct_kinds_in_order(parsed_evidence):
    add_rows(Evidence.objects.first(), 4, start=timezone.now(), kind="aaa-first")
    assert evidence_kinds() == sorted(set(Evidence.objects.values_list("kind", flat=True)))
    assert evidence_kinds()[0] == "aaa-first" and len(evidence_kinds()) == len(set(evidence_kinds()))


def test_the_page_count_query_is_bounded_not_a_full_count(client, compliance_officer, parsed_evidence):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(compliance_officer)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/evidence/").status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "evidence_evidence" in q["sql"]]
    assert counts and all(f"LIMIT {selectors.COUNT_CAP + 1}" in sql for sql in counts)
    assert not any("SELECT DISTINCT" in q["sql"] and "evidence_evidence" in q["sql"] for q in queries.captured_queries)
