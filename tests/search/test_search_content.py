"""Search finds words inside the evidence (test names, failure messages, rule ids, paths, packages,
resource addresses), weighted below titles, within what the user may see, and says where it matched."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from apps.search.content import evidence_search_reconcile
from apps.search.registry import search_for_user, search_page_for_user
from tests.engagements.conftest import parsed_upload as parsed_upload_unindexed
from tests.engagements.conftest import world  # noqa: F401 - fixture
from tests.ingest.conftest import COMMIT

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def ci(db):
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    return source_create(actor="system:test", kind="generic-ci", name="ci", system=system).source


def index_now() -> None:
    """What the worker does once a parse commits: index the words inside the new evidence. A test's
    transaction never commits, so its on_commit task never goes out: the reconcile indexes it here."""
    evidence_search_reconcile()


def parsed_upload(*args, **kwargs):
    evidence = parsed_upload_unindexed(*args, **kwargs)
    index_now()
    return evidence


def upload_body(source, body: bytes, name: str = "report.xml"):
    receipt, _ = receipt_accept(
        source=source, channel="upload", body=body, subject=COMMIT, filename=name, system=source.system,
        effective_at=timezone.now() - DAY, enqueue=False,
    )
    evidence = receipt_parse(receipt_id=receipt.pk).evidence.order_by("ordinal").first()
    index_now()
    return evidence


def junit(suite: str, test: str, message: str = "") -> bytes:
    failure = f'<failure message="{message}">trace</failure>' if message else ""
    return (
        f'<testsuites name="{suite}"><testsuite name="s" tests="1" failures="{int(bool(message))}">'
        f'<testcase classname="test_mod" name="{test}">{failure}</testcase></testsuite></testsuites>'
    ).encode()


@pytest.mark.parametrize(
    ("fixture", "words", "matched_in"),
    [
        ("junit_pytest.xml", "test_raises_error", "test name"),
        ("junit_pytest.xml", "RuntimeError", "test failure message"),
        ("ruff_check.sarif", "F401", "rule id"),
        ("ruff_check.sarif", "fx/bad.py", "file path"),
        ("infra/checkov_tf_k8s.sarif", "CKV_K8S_43", "rule id"),
        ("cyclonedx_py_env.cdx.json", "urllib3", "component"),
        ("sbom4python_requests.spdx.json", "pkg:pypi/certifi", "package URL"),
        ("infra/terraform_plan.json", "aws_db_instance.reporting", "resource address"),
        ("infra/checkov_terraform.json", "CKV_AWS_338", "rule id"),
        ("infra/checkov_terraform.json", "aws_db_instance.reporting", "resource address"),
    ],
)
def test_a_word_inside_parsed_evidence_finds_it_and_says_where(ci, compliance_officer, fixture, words, matched_in):
    evidence = parsed_upload(ci, fixture, system=ci.system, effective_at=timezone.now() - DAY)

    hits = search_for_user(user=compliance_officer, text=words, kinds=["evidence"])

    hit = next((h for h in hits if h.url == evidence.get_absolute_url()), None)
    assert hit is not None, [h.title for h in hits]
    assert hit.matched_in == matched_in
    assert words.lower() in hit.snippet.lower() and len(hit.snippet) <= 160


def test_a_title_match_ranks_above_a_content_only_match(ci, compliance_officer):
    content_only = upload_body(ci, junit("checkout", "test_zanzibar_refund", "ValueError: zanzibar"))
    in_title = upload_body(ci, junit("zanzibar suite", "test_plain"))

    hits = search_for_user(user=compliance_officer, text="zanzibar", kinds=["evidence"])

    assert [h.url for h in hits] == [in_title.get_absolute_url(), content_only.get_absolute_url()]
    assert hits[0].rank > hits[1].rank and hits[0].matched_in == "" and hits[1].matched_in


def test_an_auditor_scoped_elsewhere_finds_no_content_match_nor_its_count_or_snippet(world, client):  # noqa: F811
    index_now()
    # urllib3 is a component of the SBOM of the out-of-scope system only
    assert any(h.url == world.evidence_out.get_absolute_url()
               for h in search_for_user(user=world.auditor_out, text="urllib3", kinds=["evidence"]))
    assert any(h.url == world.evidence_in.get_absolute_url()
               for h in search_for_user(user=world.auditor_in, text="RuntimeError"))

    seen = search_page_for_user(user=world.auditor_in, text="urllib3")
    assert (seen.count, seen.hits) == (0, [])
    assert search_page_for_user(user=world.auditor_out, text="RuntimeError").count == 0
    assert search_page_for_user(user=world.auditor_ended, text="RuntimeError").count == 0

    client.force_login(world.auditor_in)
    html = client.get("/search/?q=urllib3").content.decode()
    assert 'data-count="0"' in html and "matched in" not in html and "urllib3@" not in html
    api = client.get("/api/v1/search?q=urllib3")
    assert api.json() == [] and api["X-Result-Count"] == "0"
    csv = b"".join(client.get("/search/?q=urllib3&format=csv").streaming_content).decode()
    assert csv.lstrip("\ufeff").strip().splitlines() == ["kind,title,detail,link"]


def test_page_and_api_show_where_it_matched_with_an_escaped_snippet(ci, client, compliance_officer):
    evidence = upload_body(ci, junit("checkout", "test_refund", "&lt;script&gt;alert(1)&lt;/script&gt; quetzal broke"))
    client.force_login(compliance_officer)

    api = client.get("/api/v1/search?q=quetzal&kind=evidence").json()
    assert [(h["url"], h["matched_in"]) for h in api] == [(evidence.get_absolute_url(), "test failure message")]
    assert "<script>alert(1)</script> quetzal broke" in api[0]["snippet"]  # plain text in JSON

    html = client.get("/search/?q=quetzal").content.decode()
    assert "matched in: test failure message" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>quetzal</mark> broke" in html
    assert "<script>alert(1)" not in html


def test_evidence_recorded_before_the_index_is_found_after_the_backfill(ci, compliance_officer):
    from apps.search.content import evidence_content_index
    from apps.search.models import EvidenceText

    evidence = parsed_upload(ci, "junit_pytest.xml", system=ci.system, effective_at=timezone.now() - DAY)
    EvidenceText.objects.all().delete()  # as before this index existed
    assert search_for_user(user=compliance_officer, text="RuntimeError") == []

    written = evidence_content_index(evidence_ids=None)  # what the migration runs: every evidence

    assert written == EvidenceText.objects.filter(evidence=evidence).count() > 0
    assert [h.url for h in search_for_user(user=compliance_officer, text="RuntimeError")] == [
        evidence.get_absolute_url()
    ]
    assert evidence_content_index(evidence_ids=[evidence.pk]) == 0  # safe to run twice


def test_words_of_disposed_detail_rows_are_no_longer_found(ci, compliance_officer):
    from apps.retention.services import retention_dispose_due
    from apps.search.models import EvidenceText
    from tests.retention.test_disposal import upload

    clock = timezone.now()
    evidence = upload(SimpleNamespace(source=ci), ci.system, effective_at=clock - 1000 * DAY)
    index_now()
    assert [h.url for h in search_for_user(user=compliance_officer, text="RuntimeError")] == [
        evidence.get_absolute_url()
    ]

    assert retention_dispose_due(now=clock + 200 * DAY) == 1

    assert not EvidenceText.objects.filter(evidence=evidence).exists()
    assert search_for_user(user=compliance_officer, text="RuntimeError") == []


@pytest.mark.parametrize(
    ("lookup", "index"), [("vector", "search_text_fts"), ("value__trigram_word_similar", "search_text_trgm")]
)
def test_content_matches_come_from_their_gin_index(ci, lookup, index):
    from django.contrib.postgres.search import SearchQuery
    from django.db import connection

    from apps.search.models import EvidenceText

    evidence = parsed_upload(ci, "infra/terraform_plan.json", system=ci.system, effective_at=timezone.now() - DAY)
    with connection.cursor() as cursor:  # enough unrelated values that only a selective index is worth using
        cursor.execute(
            "INSERT INTO search_evidencetext (evidence_id, field, value) "
            "SELECT %s, 'test-name', 'tests/module_' || i || '.py::test_case_' || md5(i::text) "
            "FROM generate_series(1, 5000) AS i",
            [evidence.pk],
        )
        cursor.execute("ANALYZE search_evidencetext")
        cursor.execute("SET LOCAL enable_seqscan = off")  # still a small table: does an index answer at all?
        value = SearchQuery("reporting", config="simple") if lookup == "vector" else "aws_db_instance.reporting"
        sql, params = EvidenceText.objects.filter(**{lookup: value}).values("evidence_id").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {index}" in plan, plan
