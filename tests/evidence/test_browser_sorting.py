"""Issue 21, item 4: the evidence browser sorts by effective time both ways (`?sort=effective` oldest
first, `?sort=-effective` newest first, the default), keyset-paged in either order; any other sort is ignored."""

import pytest
from django.utils import timezone

from apps.evidence.models import Evidence
from tests.evidence.test_browser_paging import OLDER, add_rows, page_ids, small_pages, walk  # noqa: F401

pytestmark = pytest.mark.django_db


def test_oldest_first_pages_walk_every_row_once_in_ascending_order(
    client, compliance_officer, parsed_evidence, small_pages  # noqa: F811
):
    add_rows(Evidence.objects.first(), 23, start=timezone.now())
    client.force_login(compliance_officer)
    expected = list(Evidence.objects.order_by("effective_at", "id").values_list("id", flat=True))

    pages = walk(client, "/evidence/?sort=effective", OLDER)

    assert [i for p in pages for i in p] == expected
    first = client.get("/evidence/?sort=effective").content.decode()
    assert 'aria-sort="ascending"' in first and "sort=effective" in OLDER.search(first)[1]


def test_an_unknown_sort_keeps_the_newest_first_order(client, compliance_officer, parsed_evidence):
    client.force_login(compliance_officer)
    expected = list(Evidence.objects.order_by("-effective_at", "-id").values_list("id", flat=True))
    assert page_ids(client.get("/evidence/?sort=sha256").content.decode()) == expected
    assert page_ids(client.get("/evidence/?sort=-effective").content.decode()) == expected
