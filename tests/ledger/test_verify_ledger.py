"""Tamper tests: an attacker with the database (triggers disabled) is caught by verify_ledger."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.ledger.checkpoint import Checkpoint as Body
from apps.ledger.checkpoint import Signer, generate_signing_key
from apps.ledger.services import ledger_checkpoint, ledger_integrate_all, ledger_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def grow(django_capture_on_commit_callbacks):
    def _grow(n: int) -> None:
        with transaction.atomic():
            for i in range(n):
                ledger_record(actor="system:test", action="evidence.recorded", target=("evidence.evidence", i),
                              data={"sha256": f"{i:064x}"})
        ledger_integrate_all()
        # Run the on-commit hook that copies the checkpoint to the witness file.
        with django_capture_on_commit_callbacks(execute=True):
            ledger_checkpoint()

    return _grow


@pytest.fixture
def ledger_log(grow):
    grow(6)   # checkpoint at 6
    grow(6)   # checkpoint at 12
    return 12


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_entry DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE ledger_node DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE ledger_checkpoint DISABLE TRIGGER USER")
        cursor.execute(statement, params)


def _verify_fails() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_ledger")
    return str(excinfo.value)


def test_an_intact_ledger_verifies(ledger_log, capsys):
    call_command("verify_ledger")
    out = capsys.readouterr().out
    assert "ledger OK: 12 entries" in out and "0 newest entries not yet under a checkpoint" in out


def test_changed_payload_is_named(ledger_log):
    _sql("UPDATE ledger_entry SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), "
         "'recorded', 'rejected'), 'UTF8') WHERE index = 7")
    assert "entry 7:" in _verify_fails()


def test_deleted_entry_is_named(ledger_log):
    _sql("DELETE FROM ledger_entry WHERE index = 4")
    assert "entry 4:" in _verify_fails()


def test_swapped_entries_are_named(ledger_log):
    _sql("UPDATE ledger_entry SET index = -1 WHERE index = 3")
    _sql("UPDATE ledger_entry SET index = 3 WHERE index = 9")
    _sql("UPDATE ledger_entry SET index = 9 WHERE index = -1")
    assert "entry 3:" in _verify_fails()


def test_inserted_entry_is_named(ledger_log):
    _sql("UPDATE ledger_entry SET index = index + 1000 WHERE index >= 5")
    _sql("UPDATE ledger_entry SET index = index - 999 WHERE index >= 1000")
    _sql("INSERT INTO ledger_entry (index, canonical, recorded_at, actor_type, actor_id, actor_label, action, "
         "object_type, object_id, sequenced_at) SELECT 5, convert_to('{\"forged\":true}', 'UTF8'), now(), "
         "'system', '', 'x', 'forged', '', '', now()")
    assert "entry 5:" in _verify_fails()


def test_changed_and_rehashed_entry_is_caught_by_the_checkpoint(ledger_log):
    """The attacker also rewrites the stored leaf and nodes: only the signed root can tell."""
    from apps.ledger import merkle

    forged = b'{"forged":true}'
    _sql("UPDATE ledger_entry SET canonical = %s WHERE index = 2", [forged])
    _sql("UPDATE ledger_node SET hash = %s WHERE level = 0 AND idx = 2", [merkle.leaf_hash(forged)])
    message = _verify_fails()
    assert "entry 0" in message or "entries 0" in message or "one of entries" in message


def test_changed_checkpoint_root_is_detected(ledger_log):
    from apps.ledger.models import Checkpoint

    cp = Checkpoint.objects.get(size=6)
    tampered = cp.note.replace(cp.note.split("\n")[2], "A" * 43 + "=")
    _sql("UPDATE ledger_checkpoint SET note = %s WHERE size = 6", [tampered])
    message = _verify_fails()
    assert "signature" in message and "6" in message


def test_checkpoint_signed_by_another_key_is_rejected(ledger_log, settings):
    from apps.ledger.models import Checkpoint

    skey, _ = generate_signing_key("attacker.example")
    cp = Checkpoint.objects.get(size=12)
    forged = Signer.from_skey(skey).sign(Body.parse(cp.note.split("\n\n")[0] + "\n").body())
    _sql("UPDATE ledger_checkpoint SET note = %s WHERE size = 12", [forged])
    settings.PORTAL_LEDGER_WITNESS_FILE = None
    message = _verify_fails()
    assert "attacker.example" in message or "trusted" in message


def test_truncated_log_with_an_old_checkpoint_is_detected_by_the_witness(ledger_log):
    _sql("DELETE FROM ledger_entry WHERE index >= 6")
    _sql("DELETE FROM ledger_node WHERE (idx + 1) * (1 << level) > 6")
    _sql("DELETE FROM ledger_checkpoint WHERE size > 6")
    message = _verify_fails()
    assert "entry 6:" in message and "12" in message


def test_rotated_key_keeps_old_checkpoints_verifiable(ledger_log, grow, settings, capsys):
    old_vkey = Signer.from_skey(settings.PORTAL_LEDGER_SIGNING_KEY).verifier_key()
    new_skey, _ = generate_signing_key("portal-2027.example")
    settings.PORTAL_LEDGER_SIGNING_KEY = new_skey
    settings.PORTAL_LEDGER_TRUSTED_KEYS = [old_vkey]
    grow(3)
    call_command("verify_ledger")
    assert "3 checkpoints verified" in capsys.readouterr().out
    settings.PORTAL_LEDGER_TRUSTED_KEYS = []
    assert "+".join(old_vkey.split("+")[:2]) in _verify_fails()  # names the key it could not check
