"""Recording, sequencing and checkpointing against the real PostgreSQL."""

import json
import threading

import pytest
from django.db import DatabaseError, connection, transaction

from apps.accounts.roles import Role
from apps.accounts.services import user_set_roles
from apps.ledger import merkle
from apps.ledger.models import Checkpoint, LedgerEntry, LedgerNode, PendingEntry
from apps.ledger.services import (
    LedgerError,
    entry_bundle,
    ledger_checkpoint,
    ledger_integrate,
    ledger_integrate_all,
    ledger_record,
    root_at,
)
from apps.ledger.verify import verify_entry


def _record(n: int, action: str = "test.changed") -> None:
    with transaction.atomic():
        for i in range(n):
            ledger_record(actor="system:test", action=action, target=("test.thing", str(i)), data={"i": i})


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(LedgerError, match="inside the transaction"):
        ledger_record(actor="system:test", action="test.changed")


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_entry():
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_record(actor="system:test", action="test.changed")
        raise RuntimeError("the change failed")
    assert not PendingEntry.objects.exists()


@pytest.mark.django_db
def test_entry_stores_canonical_json_with_actor_action_object_and_payload(engineer):
    with transaction.atomic():
        pending = ledger_record(actor=engineer, action="system.updated", target=("inventory.system", 7),
                                data={"b": 2, "a": "x"})
    raw = bytes(pending.canonical)
    body = json.loads(raw)
    assert body["actor"] == {"type": "user", "id": str(engineer.pk), "label": engineer.username}
    assert body["object"] == {"type": "inventory.system", "id": "7"}
    assert body["data"] == {"a": "x", "b": 2}
    assert raw.index(b'"a"') < raw.index(b'"b"')  # RFC 8785 key order
    assert b" " not in raw.replace(b"system.updated", b"")  # no insignificant whitespace


@pytest.mark.django_db
def test_sequencer_assigns_contiguous_indexes_and_builds_the_tree():
    _record(37)
    assert ledger_integrate(max_batch=10) == 10
    assert ledger_integrate_all() == 27
    indexes = list(LedgerEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(37))
    assert not PendingEntry.objects.exists()
    stored = LedgerEntry.objects.order_by("index").values_list("canonical", flat=True)
    leaves = [merkle.leaf_hash(bytes(c)) for c in stored]
    assert root_at(37) == merkle.root_from_leaves(leaves)
    assert root_at(20) == merkle.root_from_leaves(leaves[:20])
    assert LedgerNode.objects.filter(level=0).count() == 37
    # in the order they were recorded, within a batch and across batches
    recorded = [json.loads(bytes(c))["data"]["i"] for c in stored]
    assert recorded == list(range(37))


@pytest.mark.django_db
def test_checkpoint_is_signed_and_an_entry_verifies_offline_with_its_proof():
    _record(11)
    ledger_integrate_all()
    checkpoint = ledger_checkpoint()
    assert checkpoint.size == 11
    assert checkpoint.note.startswith("compliance-portal.local/ledger\n11\n")
    assert "\n— compliance-portal.local/ledger " in checkpoint.note  # the key is named after the origin
    bundle = entry_bundle(LedgerEntry.objects.get(index=6))
    verified = verify_entry(bundle["entry"].encode(), 6, bundle["proof"], bundle["checkpoint"], bundle["verifier_keys"])
    assert verified.size == 11
    assert ledger_checkpoint() == checkpoint  # nothing new: no second checkpoint of the same size


@pytest.mark.django_db
def test_database_refuses_update_and_delete_of_entries_nodes_and_checkpoints():
    _record(3)
    ledger_integrate_all()
    ledger_checkpoint()
    statements = [
        "UPDATE ledger_entry SET action = 'x' WHERE index = 1",
        "DELETE FROM ledger_entry WHERE index = 2",
        "UPDATE ledger_node SET hash = '\\x00' WHERE level = 0 AND idx = 0",
        "DELETE FROM ledger_node",
        "UPDATE ledger_checkpoint SET size = 99",
        "DELETE FROM ledger_checkpoint",
    ]
    for sql in statements:
        with pytest.raises(DatabaseError, match="ledger is append-only"), transaction.atomic():
            connection.cursor().execute(sql)
    assert LedgerEntry.objects.count() == 3 and Checkpoint.objects.count() == 1


def test_truncate_is_refused_on_a_connection_without_the_test_override(django_db_blocker):
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=name) as conn:
        for table in ("ledger_entry", "ledger_node", "ledger_checkpoint"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(f"TRUNCATE {table}")
            conn.rollback()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sequencer_give_a_total_order_without_gaps_or_duplicates():
    """Eight threads record while the sequencer runs: every entry gets exactly one index."""
    writers, per_writer = 8, 60
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(worker: int):
        try:
            for i in range(per_writer):
                with transaction.atomic():
                    ledger_record(actor=f"system:w{worker}", action="test.concurrent", data={"w": worker, "i": i})
        except BaseException as exc:  # noqa: BLE001 - surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    def sequence():
        try:
            while not stop.is_set():
                ledger_integrate(max_batch=50)
        finally:
            connection.close()

    sequencer = threading.Thread(target=sequence)
    sequencer.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sequencer.join()
    assert not errors
    ledger_integrate_all()
    indexes = list(LedgerEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(writers * per_writer))
    seen = {(json.loads(bytes(c))["data"]["w"], json.loads(bytes(c))["data"]["i"])
            for c in LedgerEntry.objects.values_list("canonical", flat=True)}
    assert len(seen) == writers * per_writer


@pytest.mark.django_db
def test_role_change_and_system_change_are_recorded(compliance_officer, make_user):
    from apps.inventory.models import System
    from apps.inventory.services import system_save

    user = make_user(Role.ENGINEER)
    user_set_roles(user=user, roles=[Role.RISK_OWNER], actor=compliance_officer)
    system = system_save(actor=compliance_officer, system=System(name="A", slug="a", risk_tier="low"))
    actions = list(PendingEntry.objects.order_by("id").values_list("action", "object_id"))
    assert ("user.roles_changed", str(user.pk)) in actions
    assert ("system.created", str(system.pk)) in actions
    last = json.loads(bytes(PendingEntry.objects.filter(action="user.roles_changed").last().canonical))
    assert last["data"]["before"] == ["engineer"] and last["data"]["after"] == ["risk_owner"]
    assert last["actor"]["label"] == compliance_officer.username
