"""The ledger's tables. Entries, tree nodes and checkpoints are append-only: database
triggers (migration 0002) refuse UPDATE, DELETE and TRUNCATE on them.

Recording writes a PendingEntry (no shared lock, no index); the single sequencer moves
committed pending rows into LedgerEntry with the next indexes and appends the Merkle
nodes that became complete, in one transaction.
"""

from django.db import models


class _EntryFields(models.Model):
    canonical = models.BinaryField(help_text="RFC 8785 canonical JSON: the exact bytes that are hashed.")
    recorded_at = models.DateTimeField()
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True


class PendingEntry(_EntryFields):
    """A recorded change waiting for the sequencer to give it an index (normally < 1 s)."""

    id = models.BigAutoField(primary_key=True)

    class Meta:
        db_table = "ledger_pending"

    def __str__(self) -> str:
        return f"pending {self.id}: {self.action}"


class LedgerEntry(_EntryFields):
    """One sequenced entry: leaf `index` of the Merkle tree. Never updated or deleted."""

    index = models.BigIntegerField(primary_key=True)
    sequenced_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_entry"
        ordering = ["-index"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "index"], name="ledger_entry_object"),
            models.Index(fields=["action", "index"], name="ledger_entry_action"),
            models.Index(fields=["actor_type", "actor_id", "index"], name="ledger_entry_actor"),
            models.Index(fields=["recorded_at"], name="ledger_entry_time"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.index}: {self.action}"


class LedgerNode(models.Model):
    """Hash of a complete subtree: leaves [idx * 2**level, (idx + 1) * 2**level)."""

    pk = models.CompositePrimaryKey("level", "idx")
    level = models.SmallIntegerField()
    idx = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        db_table = "ledger_node"

    def __str__(self) -> str:
        return f"node ({self.level}, {self.idx})"


class Checkpoint(models.Model):
    """A signed tree head in the transparency-log checkpoint format (C2SP tlog-checkpoint)."""

    id = models.BigAutoField(primary_key=True)
    size = models.BigIntegerField()
    root = models.BinaryField()
    note = models.TextField(help_text="The signed note, verbatim.")
    key_name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8, help_text="Hex key id of the signing key.")
    verifier_key = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_checkpoint"
        ordering = ["-size"]
        constraints = [
            models.UniqueConstraint(fields=["size"], name="ledger_checkpoint_one_per_size"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.size}"
