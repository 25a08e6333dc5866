"""After evidence is recorded: the pipeline (apps.pipeline) runs the registered steps in its one order."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

import apps.pipeline as pipeline
from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse
from apps.ledger.models import PendingEntry
from apps.policy import providers
from tests.ingest.conftest import COMMIT

JUNIT = b'<testsuite name="s" tests="1" failures="0"><testcase classname="a" name="b"/></testsuite>'


def test_every_step_after_evidence_is_recorded_is_registered_in_the_documented_order():
    assert pipeline.pipeline_steps() == ["retention.identifiers", "releases.track", "policy.evaluate", "search.index"]


def test_a_step_the_pipeline_does_not_document_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not one of"):
        pipeline.pipeline_step_register("search.undocumented", lambda **kwargs: None)
    assert "search.undocumented" not in pipeline.pipeline_steps()


def test_exceptions_and_releases_provide_to_policy_without_policy_importing_them():
    assert set(providers._coverage_providers) == {"exceptions"}
    assert set(providers._gate_item_providers) == {"releases"}


@pytest.mark.django_db
def test_parsing_runs_each_step_in_order_inside_the_transaction_that_records_the_evidence(ci, monkeypatch):
    calls = []

    def recording(name):
        def step(*, receipt, evidence, body):
            calls.append((name, receipt.pk, [e.pk for e in evidence], body, connection.in_atomic_block))

        return step

    for name in pipeline.STEPS:
        monkeypatch.setitem(pipeline._steps, name, recording(name))
    receipt, _ = receipt_accept(source=ci.source, channel="upload", body=JUNIT, subject=COMMIT, enqueue=False)

    receipt = receipt_parse(receipt_id=receipt.pk)

    evidence_ids = list(Evidence.objects.filter(receipt=receipt).values_list("pk", flat=True))
    assert receipt.state == Receipt.State.PARSED and evidence_ids
    assert calls == [(name, receipt.pk, evidence_ids, JUNIT, True) for name in pipeline.STEPS]


@pytest.mark.django_db
def test_a_failing_step_rolls_back_the_evidence_it_followed(ci, monkeypatch):
    def broken(*, receipt, evidence, body):
        raise RuntimeError("step bug")

    monkeypatch.setitem(pipeline._steps, "releases.track", broken)
    receipt, _ = receipt_accept(source=ci.source, channel="upload", body=JUNIT, subject=COMMIT, enqueue=False)

    receipt = receipt_parse(receipt_id=receipt.pk)

    assert receipt.state == Receipt.State.FAILED and "step bug" in receipt.error
    assert not Evidence.objects.filter(receipt=receipt).exists()
    assert not PendingEntry.objects.filter(action="receipt.parsed", object_id=str(receipt.pk)).exists()
