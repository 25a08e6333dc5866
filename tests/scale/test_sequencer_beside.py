"""generate_scale sequences the ledger beside its load, as the sequencer process does in production."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import transaction

from apps.ledger import merkle
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.ledger.services import ledger_record_many, root_at, tree_size
from devtools.scale.generator import sequencer_beside


def _record(n: int) -> None:
    with transaction.atomic():
        ledger_record_many(("system:test", "test.loaded", ("test.thing", str(i)), {"i": i}) for i in range(n))


def _beside_running() -> bool:
    return any(t.name == "sequencer-beside" for t in threading.enumerate())


@pytest.mark.django_db(transaction=True)
def test_committed_entries_are_sequenced_while_the_load_still_runs():
    said = []
    with sequencer_beside(said.append):
        assert _beside_running()
        _record(120)
        deadline = time.monotonic() + 20
        while PendingEntry.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # sequenced by the thread beside the load, before the load's block ended
        assert not PendingEntry.objects.exists()
        assert LedgerEntry.objects.filter(action="test.loaded").count() == 120
    assert not _beside_running()
    assert said == []  # nothing failed
    stored = LedgerEntry.objects.order_by("index").values_list("canonical", flat=True)
    leaves = [merkle.leaf_hash(bytes(c)) for c in stored]
    assert root_at(tree_size()) == merkle.root_from_leaves(leaves)


@pytest.mark.django_db
def test_inside_a_transaction_nothing_runs_beside():
    """A test's transaction: another connection would see none of the block's rows."""
    with sequencer_beside(print):
        assert not _beside_running()
        _record(3)
    assert PendingEntry.objects.count() == 3
