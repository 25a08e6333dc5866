"""The words inside new evidence are indexed after the parse commits, by an idempotent task that retries; a
reconcile indexes whatever it missed. Indexing never fails a parse nor rolls back evidence (issue 25)."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from apps.search.models import EvidenceText
from apps.search.registry import search_for_user

pytestmark = pytest.mark.django_db
COMMIT = "git+https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625"
JUNIT = (
    b'<testsuite name="checkout" tests="1" failures="1"><testcase classname="test_mod" name="test_refund">'
    b'<failure message="ValueError: quetzal">trace</failure></testcase></testsuite>'
)
# A search index that is down: every INSERT into it raises, and counts the attempt in a sequence (a
# sequence is not rolled back with the statement that advanced it).
INDEX_DOWN = """
CREATE SEQUENCE test_index_attempts;
CREATE FUNCTION test_index_down() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM nextval('test_index_attempts'); RAISE EXCEPTION 'search index down'; END $$;
CREATE TRIGGER test_index_down BEFORE INSERT ON search_evidencetext
    FOR EACH STATEMENT EXECUTE FUNCTION test_index_down();
"""
INDEX_UP = "DROP TRIGGER test_index_down ON search_evidencetext"


@pytest.fixture
def ci(db):
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    return source_create(actor="system:test", kind="generic-ci", name="ci", system=system).source


def accept(source, body: bytes = JUNIT) -> Receipt:
    receipt, _ = receipt_accept(
        source=source, channel="upload", body=body, subject=COMMIT, filename="report.xml", system=source.system,
        effective_at=timezone.now() - timedelta(days=1), enqueue=False,
    )
    return receipt


def found(user, text: str) -> list[str]:
    return [h.url for h in search_for_user(user=user, text=text, kinds=["evidence"])]


def test_parsing_writes_nothing_to_the_search_index_inside_its_transaction(ci, django_capture_on_commit_callbacks):
    receipt = accept(ci)

    with django_capture_on_commit_callbacks() as callbacks:
        parsed = receipt_parse(receipt_id=receipt.pk)

    evidence = Evidence.objects.get(receipt=parsed)
    assert parsed.state == Receipt.State.PARSED
    assert not EvidenceText.objects.filter(evidence=evidence).exists()  # the index comes after commit
    assert callbacks  # the index task (and the policy evaluation) are handed over after commit


def test_a_search_index_that_is_down_neither_fails_the_parse_nor_rolls_back_the_evidence(ci):
    receipt = accept(ci)
    with connection.cursor() as cursor:
        cursor.execute(INDEX_DOWN)

    parsed = receipt_parse(receipt_id=receipt.pk)

    assert parsed.state == Receipt.State.PARSED and parsed.error == ""
    assert Evidence.objects.filter(receipt=parsed).count() == 1


def test_the_index_task_retries_a_database_error_and_the_reconcile_indexes_what_it_missed(ci, compliance_officer):
    from apps.search.content import evidence_search_reconcile
    from apps.search.tasks import evidence_search_index as evidence_search_index_task

    evidence = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci).pk))
    with connection.cursor() as cursor:
        cursor.execute(INDEX_DOWN)

    result = evidence_search_index_task.apply(args=[[evidence.pk]])

    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM test_index_attempts")
        attempts = cursor.fetchone()[0]
        cursor.execute(INDEX_UP)
    assert result.failed() and attempts == 1 + evidence_search_index_task.max_retries
    assert Evidence.objects.filter(pk=evidence.pk).exists() and found(compliance_officer, "quetzal") == []

    assert evidence_search_reconcile() == 1  # what beat runs: evidence with no index yet

    assert found(compliance_officer, "quetzal") == [evidence.get_absolute_url()]
    assert evidence_search_reconcile() == 0


def test_the_index_task_is_safe_to_run_twice(ci, compliance_officer):
    from apps.search.tasks import evidence_search_index as evidence_search_index_task

    evidence = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci).pk))

    first = evidence_search_index_task.apply(args=[[evidence.pk]]).get()
    rows = EvidenceText.objects.filter(evidence=evidence).count()
    second = evidence_search_index_task.apply(args=[[evidence.pk]]).get()

    assert first == rows > 0 and second == 0
    assert EvidenceText.objects.filter(evidence=evidence).count() == rows
    assert found(compliance_officer, "test_refund") == [evidence.get_absolute_url()]


def test_the_reconcile_leaves_indexed_evidence_alone_even_when_it_had_no_words_to_index(ci):
    from apps.search.content import evidence_search_reconcile

    words = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci).pk))
    no_words = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci, b"plain text, no parser").pk))

    assert evidence_search_reconcile() == 2
    assert evidence_search_reconcile() == 0  # each is marked indexed, with or without index rows
    assert EvidenceText.objects.filter(evidence=words).exists()
    assert not EvidenceText.objects.filter(evidence=no_words).exists()


def test_the_reconcile_command_indexes_every_evidence_left_without_an_index(ci, compliance_officer, capsys):
    evidence = [Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci, JUNIT + b" " * i).pk))
                for i in range(3)]

    call_command("search_reconcile", batch=2)

    assert "indexed 3 pieces of evidence" in capsys.readouterr().out
    assert sorted(found(compliance_officer, "quetzal")) == sorted(e.get_absolute_url() for e in evidence)


def test_beats_reconcile_leaves_evidence_just_received_to_its_own_index_task(ci):
    """In a burst the index tasks queue behind the parses; a reconcile that took fresh evidence indexed it
    ahead of its queued task, each piece twice. Beat's run skips what arrived in the last RECONCILE_SETTLE."""
    from apps.search.content import evidence_search_reconcile
    from apps.search.tasks import RECONCILE_SETTLE
    from apps.search.tasks import evidence_search_reconcile as beat_reconcile

    evidence = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci).pk))

    assert beat_reconcile.apply().get() == 0
    assert timedelta(minutes=1) <= RECONCILE_SETTLE
    assert evidence_search_reconcile(received_before=evidence.received_at) == 0
    assert evidence_search_reconcile(received_before=evidence.received_at + timedelta(microseconds=1)) == 1


def test_parses_of_the_same_moment_share_one_index_task_that_indexes_them_all(
    ci, compliance_officer, django_capture_on_commit_callbacks
):
    """A task per parse cost a message, a task run and a transaction per receipt: under a webhook storm the
    worker's queue grew. Now the ids wait in a Redis set and one task, woken once, indexes every one."""
    import redis
    from django.conf import settings
    from django.core.cache import cache

    from apps.search.content import PENDING_FLAG, PENDING_KEY, evidence_search_index_pending

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(PENDING_FLAG)
    broker.delete(PENDING_KEY)
    broker.delete("default")
    receipts = [accept(ci, JUNIT + b" " * i) for i in range(3)]
    try:
        for receipt in receipts:
            with django_capture_on_commit_callbacks(execute=True):
                receipt_parse(receipt_id=receipt.pk)
        evidence = list(Evidence.objects.filter(receipt__in=receipts))
        assert {int(i) for i in broker.smembers(PENDING_KEY)} == {e.pk for e in evidence}
        tasks = [json.loads(m)["headers"]["task"] for m in broker.lrange("default", 0, -1)]
        assert tasks.count("apps.search.tasks.evidence_search_index_pending") == 1  # one wake-up for three parses
        assert found(compliance_officer, "quetzal") == []  # not indexed until the task runs

        assert evidence_search_index_pending() > 0

        assert sorted(found(compliance_officer, "quetzal")) == sorted(e.get_absolute_url() for e in evidence)
        assert not broker.exists(PENDING_KEY)
        assert evidence_search_index_pending() == 0
    finally:
        cache.delete(PENDING_FLAG)
        broker.delete(PENDING_KEY, "default")


def test_ids_taken_for_indexing_go_back_when_the_index_fails(ci):
    import redis
    from django.conf import settings

    from apps.search.content import PENDING_KEY, evidence_search_index_pending

    evidence = Evidence.objects.get(receipt=receipt_parse(receipt_id=accept(ci).pk))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(PENDING_KEY)
    broker.sadd(PENDING_KEY, evidence.pk)
    with connection.cursor() as cursor:
        cursor.execute(INDEX_DOWN)
    try:
        with pytest.raises(Exception, match="search index down"):
            evidence_search_index_pending()
        assert {int(i) for i in broker.smembers(PENDING_KEY)} == {evidence.pk}  # back for the retry
    finally:
        broker.delete(PENDING_KEY)
