"""Full-text search over controls and exceptions (besides evidence, artifacts, systems), within what users may see."""

from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.utils import timezone

from apps.search.registry import CONFIG, TARGETS, search_for_user
from tests.engagements.conftest import world  # noqa: F401 - fixture
from tests.engagements.test_approved_exceptions_population import exception_row

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def kinds_and_titles(hits) -> set[tuple[str, str]]:
    return {(h.kind, h.title) for h in hits}


def test_controls_are_found_by_label_id_and_title(compliance_officer):
    hits = search_for_user(user=compliance_officer, text="CC8.1", kinds=["controls"])
    assert hits[0].url == "/controls/soc2-cc8-1/" and hits[0].title.startswith("CC8.1 ")
    assert hits[0].kind_label == "Control" and "SOC 2" in hits[0].detail
    assert any(h.url == "/controls/hipaa-164-312-b/" for h in search_for_user(
        user=compliance_officer, text="hipaa-164-312-b", kinds=["controls"]))


def test_an_auditor_finds_only_the_controls_of_their_engagement_frameworks(world, compliance_officer):  # noqa: F811
    officer_hits = search_for_user(user=compliance_officer, text="hipaa-164-312-b or soc2-cc8-1", kinds=["controls"])
    assert {h.url for h in officer_hits} == {"/controls/hipaa-164-312-b/", "/controls/soc2-cc8-1/"}
    auditor_hits = search_for_user(user=world.auditor_in, text="hipaa-164-312-b or soc2-cc8-1", kinds=["controls"])
    assert {h.url for h in auditor_hits} == {"/controls/soc2-cc8-1/"}  # the engagement is SOC 2 only
    # an auditor whose engagement has ended finds no control at all
    assert search_for_user(user=world.auditor_ended, text="soc2-cc8-1", kinds=["controls"]) == []


def test_exceptions_are_found_by_justification_within_systems_and_observation_window(world):  # noqa: F811
    now = timezone.now()
    in_scope = exception_row(world.system_in, world.officer, status="approved", approved_at=now - 5 * DAY,
                             expires_at=now + 30 * DAY, text="zebrafish in scope")
    other_system = exception_row(world.system_out, world.officer, status="approved", approved_at=now - 5 * DAY,
                                 expires_at=now + 30 * DAY, text="zebrafish other system")
    before_window = exception_row(world.system_in, world.officer, status="expired", approved_at=now - 300 * DAY,
                                  expires_at=now - 200 * DAY, ended_at=now - 200 * DAY, text="zebrafish long ago")

    officer = {h.url for h in search_for_user(user=world.officer, text="zebrafish", kinds=["exceptions"])}
    assert officer == {x.get_absolute_url() for x in (in_scope, other_system, before_window)}

    auditor = search_for_user(user=world.auditor_in, text="zebrafish", kinds=["exceptions"])
    assert [h.url for h in auditor] == [in_scope.get_absolute_url()]
    assert auditor[0].title.startswith(f"EX-{in_scope.pk} CC8.1")
    assert [h.url for h in search_for_user(user=world.auditor_out, text="zebrafish", kinds=["exceptions"])] == [
        other_system.get_absolute_url()
    ]
    assert search_for_user(user=world.auditor_ended, text="zebrafish") == []


def test_search_page_and_api_offer_controls_and_exceptions(client, world):  # noqa: F811
    now = timezone.now()
    exception_row(world.system_in, world.officer, status="approved", approved_at=now - DAY,
                  expires_at=now + DAY, text="okapi")
    client.force_login(world.auditor_in)
    html = client.get("/search/?q=okapi").content.decode()
    assert "data-hit" in html and "Exception" in html
    api = client.get("/api/v1/search?q=soc2-cc8-1&kind=controls").json()
    assert [h["url"] for h in api] == ["/controls/soc2-cc8-1/"]
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    kind = next(p for p in schema["paths"]["/api/v1/search"]["get"]["parameters"] if p["name"] == "kind")
    assert {"controls", "exceptions", "evidence", "artifacts", "systems"} <= set(kind["schema"]["items"]["enum"])


@pytest.mark.parametrize("key", sorted(TARGETS))
def test_every_target_vector_has_a_gin_index_the_planner_uses(key, compliance_officer):
    target = TARGETS[key]
    model = target.queryset_for_user(compliance_officer).model
    qs = model.objects.annotate(search=target.vector()).filter(search=SearchQuery("x", config=CONFIG))
    sql, params = qs.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny test tables: take away the plain scans (sequential, or a whole btree with a filter), so the
        # planner shows whether an index can answer `vector @@ query` at all (a bitmap scan on the GIN index).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on search_" in plan and "_fts" in plan, plan
