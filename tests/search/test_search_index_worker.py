"""With a real worker: the words inside an upload become searchable once the worker has indexed them, after the
parse committed (issue 25)."""

import pytest

from apps.evidence.models import Evidence
from apps.ingest.services import receipt_parse, source_create
from apps.inventory.models import System
from tests.conftest import wait_until
from tests.search.test_search_index_after_commit import accept, found

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_words_inside_an_upload_are_found_once_the_worker_has_indexed_them(compliance_officer, celery_worker):
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    source = source_create(actor="system:test", kind="generic-ci", name="ci", system=system).source
    receipt = accept(source)  # committed: the parse below commits too, and its index task goes to the worker

    evidence = Evidence.objects.get(receipt=receipt_parse(receipt_id=receipt.pk))

    assert wait_until(lambda: found(compliance_officer, "quetzal"), timeout=60) == [evidence.get_absolute_url()]
