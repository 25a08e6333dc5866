"""Writes to the ledger: record a change, sequence pending entries, sign checkpoints.

`ledger_record()` is the one way every app records a state change. It must run inside
the transaction of the change (so both commit or roll back together) and it takes no
shared lock: it inserts one pending row. The sequencer (`ledger_integrate()`, run by the
`ledger_sequencer` loop and, as a safety net, by Celery beat) gives committed entries
their indexes in one place, so indexes are strictly increasing with no gaps.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from apps.ledger import merkle
from apps.ledger.canonical import canonical_json, format_timestamp, to_jsonable
from apps.ledger.checkpoint import Checkpoint as CheckpointBody
from apps.ledger.checkpoint import Signer
from apps.ledger.models import Checkpoint, LedgerEntry
from apps.ledger.verify import encode_proof

try:  # the psycopg 3 server-binding cursor of Django's PostgreSQL backend
    from django.db.backends.postgresql.base import ServerBindingCursor as _PreparingCursorBase
except ImportError:  # pragma: no cover - psycopg 2 has none: plain cursors then
    _PreparingCursorBase = None

# pg_advisory_xact_lock key held by whoever sequences: one sequencer at a time.
SEQUENCER_LOCK = 0x1ED6E5
ENTRY_VERSION = 1


class LedgerError(Exception):
    """The ledger cannot do what was asked (for example: recording outside a transaction)."""


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user, an ingestion source, or a system task."""

    type: str  # "user" | "source" | "system"
    id: str
    label: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "label": self.label}


def actor_of(actor: Any) -> Actor:
    """Normalise what callers pass as actor: a User, a Source, an Actor or 'system:<task>'."""
    if isinstance(actor, Actor):
        return actor
    if actor is None:
        return Actor("system", "", "system")
    if isinstance(actor, str):
        name = actor.removeprefix("system:")
        return Actor("system", name, name)
    if hasattr(actor, "ledger_actor"):
        return actor.ledger_actor()
    if getattr(actor, "is_authenticated", False) and hasattr(actor, "get_username"):
        return Actor("user", str(actor.pk), actor.get_username())
    raise LedgerError(f"cannot record {type(actor).__name__} as an actor")


def object_ref(target: Any) -> tuple[str, str]:
    """(type, id) of what a change was about: a model instance or an explicit pair."""
    if target is None:
        return ("", "")
    if isinstance(target, models.Model):
        return (target._meta.label_lower, str(target.pk))
    if isinstance(target, tuple) and len(target) == 2:
        return (str(target[0]), str(target[1]))
    raise LedgerError(f"cannot record {type(target).__name__} as an object")


@dataclass(frozen=True)
class RecordedEntry:
    """What ledger_record() wrote: the canonical bytes that will be hashed once sequenced."""

    canonical: bytes
    action: str
    object_type: str
    object_id: str


_INSERT_PENDING = (
    "INSERT INTO ledger_pending (canonical, recorded_at, actor_type, actor_id, actor_label, action, "
    "object_type, object_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


if _PreparingCursorBase is not None:
    class _PreparingCursor(_PreparingCursorBase):
        """A server-binding cursor whose statements are prepared once per connection."""

        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True)

        def _send_query_prepared(self, name, pgq, **kwargs):
            # psycopg keeps the statement it ran only when it did not run a prepared one (executemany
            # keeps it either way); Django's query log (last_executed_query) reads it from there.
            self._query = pgq
            super()._send_query_prepared(name, pgq, **kwargs)


def _pending_cursor():
    """A cursor for the pending-row INSERT: server-side binding and a prepared statement (PostgreSQL
    parses and plans it once per connection, the canonical bytes travel as binary, not as an escaped
    literal), still wrapped by Django so query logging and execute wrappers see it. Prepared only with
    PORTAL_DB_PREPARED_STATEMENTS on (compliance_portal/settings.py sets psycopg's prepare_threshold;
    at Django's default, None, psycopg ignores `prepare=True`)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of the `connection` proxy is a lookup of its own
    if _PreparingCursorBase is None or db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    return db._prepare_cursor(_PreparingCursor(db.connection))


def _entry_body(who: Actor, action: str, object_type: str, object_id: str, now, data: dict | None) -> dict:
    return {
        "v": ENTRY_VERSION,
        "time": format_timestamp(now),
        "actor": who.as_json(),
        "action": action,
        "object": {"type": object_type, "id": object_id},
        "data": to_jsonable(data) if data else {},
    }


@dataclass(frozen=True)
class PendingTemplate:
    """A ledger entry about a row that the same SQL statement creates, so its id is not known yet.

    `canonical_head || <the id as text> || canonical_tail` is byte for byte what ledger_record()
    writes for that id; `columns` are the pending row's other values, in TEMPLATE_COLUMNS order
    (the object id column is the id as text too)."""

    canonical_head: bytes
    canonical_tail: bytes
    columns: tuple


# The pending row's columns a template fills; the SQL that uses it adds canonical and object_id.
TEMPLATE_COLUMNS = ("recorded_at", "actor_type", "actor_id", "actor_label", "action", "object_type")


def ledger_entry_template(*, actor: Any, action: str, object_type: str, data: dict | None = None) -> PendingTemplate:
    """The entry ledger_record() would write about an object of `object_type`, split around its id.

    For a hot path that inserts the object and its entry in one statement (the caller's SQL
    concatenates the id in, in the same transaction: see apps.ingest.services.receipt_accept)."""
    who = actor_of(actor)
    now = timezone.now()
    while True:  # a marker that nothing else in the entry contains (the data may hold anything)
        marker = secrets.token_hex(16)
        canonical = canonical_json(_entry_body(who, action, object_type, marker, now, data))
        head, found, tail = canonical.partition(marker.encode())
        if found and marker.encode() not in tail:
            break
    return PendingTemplate(
        canonical_head=head,
        canonical_tail=tail,
        columns=(now, who.type, who.id, who.label[:200], action, object_type),
    )


def prepared_cursor():
    """A cursor whose statements PostgreSQL parses and plans once per connection (server-side
    binding): for the few statements that run on every request (the pending-row INSERT, ingest's
    accept)."""
    return _pending_cursor()


def ledger_record(*, actor: Any, action: str, target: Any = None, data: dict | None = None) -> RecordedEntry:
    """Record one state change in the ledger, in the caller's transaction.

    One plain INSERT (no ORM instance, no RETURNING, a prepared statement): this runs inside
    every write of the portal, and its cost is benchmarked against the transaction it joins."""
    if not connection.in_atomic_block:
        raise LedgerError("ledger_record() must run inside the transaction of the change it records")
    who = actor_of(actor)
    object_type, object_id = object_ref(target)
    now = timezone.now()
    canonical = canonical_json(_entry_body(who, action, object_type, object_id, now, data))
    with _pending_cursor() as cursor:
        cursor.execute(
            _INSERT_PENDING,
            [canonical, now, who.type, who.id, who.label[:200], action, object_type, object_id[:200]],
        )
    return RecordedEntry(canonical=canonical, action=action, object_type=object_type, object_id=object_id)


# ---------------------------------------------------------------- the tree as stored


def tree_size() -> int:
    """Number of sequenced entries (the next index)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(index) + 1, 0) FROM ledger_entry")
        return cursor.fetchone()[0]


def _fetch_nodes(keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Fetch the given (level, idx) nodes in one query."""
    if not keys:
        return {}
    levels, idxs = zip(*keys, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.level, n.idx, n.hash FROM ledger_node n "
            "JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx",
            [list(levels), list(idxs)],
        )
        return {(level, idx): bytes(h) for level, idx, h in cursor.fetchall()}


def _getter(nodes: dict[tuple[int, int], bytes]):
    def get(level: int, idx: int) -> bytes:
        try:
            return nodes[(level, idx)]
        except KeyError:
            raise LedgerError(f"ledger node ({level}, {idx}) is missing") from None

    return get


def root_at(size: int) -> bytes:
    return merkle.root_at(size, _getter(_fetch_nodes(merkle.root_keys(size))))


def inclusion_proof(index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(index, size, _getter(_fetch_nodes(merkle.inclusion_proof_keys(index, size))))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    keys = merkle.consistency_proof_keys(old_size, new_size)
    return merkle.consistency_proof(old_size, new_size, _getter(_fetch_nodes(keys)))


# ---------------------------------------------------------------- the sequencer


def _copy_rows(table: str, columns: list[str], rows: list[tuple]) -> None:
    cursor = connection.cursor()
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # noqa: S608
        for row in rows:
            copy.write_row(row)


# One statement moves a batch: the oldest committed pending entries are deleted, numbered from the
# tree's size in id order, and inserted as sequenced entries; what comes back is each new index with
# its leaf hash (RFC 6962: SHA-256(0x00 || canonical)), all the Merkle tree needs. The entries' bodies
# never travel to Python and back.
_SEQUENCE_SQL = """
WITH batch AS (
    DELETE FROM ledger_pending
    WHERE id IN (SELECT id FROM ledger_pending ORDER BY id LIMIT %(limit)s)
    RETURNING *
), numbered AS (
    SELECT %(size)s + row_number() OVER (ORDER BY id) - 1 AS index, * FROM batch
), sequenced AS (
    INSERT INTO ledger_entry (index, canonical, recorded_at, actor_type, actor_id, actor_label, action,
                              object_type, object_id, sequenced_at)
    SELECT index, canonical, recorded_at, actor_type, actor_id, actor_label, action, object_type, object_id,
           %(now)s
    FROM numbered
)
SELECT index, sha256('\\x00'::bytea || canonical) FROM numbered ORDER BY index
"""


def ledger_integrate(*, max_batch: int = 10_000) -> int:
    """Sequence up to max_batch committed pending entries; returns how many. Safe to run anywhere,
    any number of times at once: an advisory lock lets one caller in, the others return 0."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
            if not cursor.fetchone()[0]:
                return 0
            size = tree_size()
            cursor.execute(_SEQUENCE_SQL, {"limit": max_batch, "size": size, "now": timezone.now()})
            leaves = [bytes(leaf) for _index, leaf in cursor.fetchall()]
        if not leaves:
            return 0
        nodes = merkle.append_nodes(size, leaves, _getter(_fetch_nodes(merkle.append_keys(size))))
        _copy_rows("ledger_node", ["level", "idx", "hash"], nodes)
        return len(leaves)


# The sequencer loop's pacing. Each ledger_integrate() is one transaction (lock, the statement that
# moves the batch, COPY of the tree's new nodes, commit with its fsync): run back to back under a steady
# trickle of writes it would sequence a handful of entries per transaction and compete with the writers
# for the CPU and the WAL. So after a partial batch it waits a moment for entries to gather; a full
# batch means a backlog: no wait.
SEQUENCER_IDLE_SECONDS = 0.2
SEQUENCER_GATHER_SECONDS = 0.1
SEQUENCER_BATCH = 10_000


def ledger_sequencer_pause(done: int, *, idle: float = SEQUENCER_IDLE_SECONDS,
                           gather: float = SEQUENCER_GATHER_SECONDS, batch: int = SEQUENCER_BATCH) -> float:
    """Seconds the sequencer loop waits after a ledger_integrate() that sequenced `done` entries."""
    if done == 0:
        return idle
    return 0.0 if done >= batch else gather


def ledger_integrate_all() -> int:
    """Sequence everything that is pending now (tests, commands, the beat safety net)."""
    total = 0
    while True:
        done = ledger_integrate()
        total += done
        if not done:
            return total


# ---------------------------------------------------------------- checkpoints


def signer() -> Signer:
    return Signer.from_skey(settings.PORTAL_LEDGER_SIGNING_KEY)


def trusted_verifier_keys() -> list[str]:
    """The current key's verifier key first, then older keys still trusted (rotation)."""
    keys = [signer().verifier_key()]
    keys += [k for k in settings.PORTAL_LEDGER_TRUSTED_KEYS if k not in keys]
    return keys


@transaction.atomic
def ledger_checkpoint(*, force: bool = False) -> Checkpoint | None:
    """Sign a checkpoint of the current tree, unless one of this size exists (then return it).

    Runs under the sequencer lock so that the size and root it signs cannot move underneath it.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
    size = tree_size()
    latest = Checkpoint.objects.order_by("-size").first()
    if latest is not None and latest.size == size:
        return latest
    if size == 0 and not force:
        return None
    key = signer()
    root = root_at(size) if size else merkle.EMPTY_ROOT
    body = CheckpointBody(origin=settings.PORTAL_LEDGER_ORIGIN, size=size, root=root).body()
    checkpoint = Checkpoint.objects.create(
        size=size,
        root=root,
        note=key.sign(body),
        key_name=key.name,
        key_id=key.key_id.hex(),
        verifier_key=key.verifier_key(),
        created_at=timezone.now(),
    )
    transaction.on_commit(lambda: witness_append(checkpoint.note))
    if checkpoint_publish_targets():
        from apps.ledger.tasks import ledger_checkpoint_publish as ledger_checkpoint_publish_task  # noqa: PLC0415 - circular: apps.ledger.tasks imports this module

        transaction.on_commit(lambda: ledger_checkpoint_publish_task.delay(checkpoint.pk))
    return checkpoint


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-size").first()


def entry_bundle(entry: LedgerEntry, checkpoint: Checkpoint | None = None) -> dict:
    """Everything needed to verify one entry offline: its bytes, index, proof and a checkpoint."""

    checkpoint = checkpoint or latest_checkpoint()
    if checkpoint is None or checkpoint.size <= entry.index:
        return {"index": entry.index, "entry": bytes(entry.canonical).decode(), "checkpoint": None, "proof": None}
    return {
        "index": entry.index,
        "entry": bytes(entry.canonical).decode(),
        "checkpoint": checkpoint.note,
        "proof": encode_proof(inclusion_proof(entry.index, checkpoint.size)),
        "verifier_keys": [checkpoint.verifier_key],
    }


def read_entries_with_leaves(batch: int = 20_000, *, start: int = 0, end: int | None = None):
    """Stream (index, canonical bytes, stored leaf hash or None) in index order for start <= index < end,
    a batch at a time (keyset pagination: constant memory, no cursor left open if the reader stops early)."""
    after = start - 1
    stop = end if end is not None else 2**62
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT e.index, e.canonical, n.hash FROM ledger_entry e "
                "LEFT JOIN ledger_node n ON n.level = 0 AND n.idx = e.index "
                "WHERE e.index > %s AND e.index < %s ORDER BY e.index LIMIT %s",
                [after, stop, batch],
            )
            rows = cursor.fetchall()
        for index, canonical, leaf in rows:
            yield index, bytes(canonical), bytes(leaf) if leaf is not None else None
        if len(rows) < batch:
            return
        after = rows[-1][0]


def witness_append(note: str) -> None:
    """Copy a new checkpoint outside the database (PORTAL_LEDGER_WITNESS_FILE), so that someone who
    controls only the database cannot roll the log back to an older checkpoint unnoticed."""
    path = settings.PORTAL_LEDGER_WITNESS_FILE
    if not path:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON Lines: one {"note": ...} per checkpoint (a note has blank lines of its own).
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"note": note}) + "\n")


def checkpoint_publish_targets() -> list[str]:
    """Where checkpoints are published outside the host: "dir", "http", "s3" (configured ones only)."""

    targets = []
    if settings.PORTAL_LEDGER_WITNESS_DIR:
        targets.append("dir")
    if settings.PORTAL_LEDGER_WITNESS_URL:
        targets.append("http")
    # The evidence bucket, when it is an object-locked S3 bucket (duck-typed: the ledger is below ingest).
    if hasattr(storages["evidence"], "ensure_object_lock"):
        targets.append("s3")
    return targets


def checkpoint_object_name(checkpoint: Checkpoint) -> str:
    """The checkpoint's file name outside the host: checkpoints/<origin with / as _>/<size, 20 digits>."""
    origin = settings.PORTAL_LEDGER_ORIGIN.replace("/", "_")
    return f"checkpoints/{origin}/{checkpoint.size:020d}"


def ledger_checkpoint_publish(*, checkpoint_id: int) -> list[str]:
    """Copy one signed checkpoint to every configured place outside the host; returns where it went.

    Safe to run twice: the directory keeps an existing identical file, the witness answers a repeat as it
    likes (an HTTP error raises and Celery retries), S3 writes the same bytes again (a new locked version).
    A different note already stored under the same size is a fork of the log: refused loudly."""


    checkpoint = Checkpoint.objects.get(pk=checkpoint_id)
    note = checkpoint.note.encode("utf-8")
    name = checkpoint_object_name(checkpoint)
    done = []
    targets = checkpoint_publish_targets()
    if "dir" in targets:
        path = settings.PORTAL_LEDGER_WITNESS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if path.read_bytes() != note:
                raise LedgerError(f"{path} holds another checkpoint of size {checkpoint.size}: the log has forked")
        else:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(note)
            tmp.replace(path)
        done.append("dir")
    if "http" in targets:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in settings
            settings.PORTAL_LEDGER_WITNESS_URL, data=note, method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - operator-configured URL
            response.read()
        done.append("http")
    if "s3" in targets:
        storages["evidence"].save(name, ContentFile(note))
        done.append("s3")
    return done


def witness_notes() -> list[str]:
    """Checkpoints kept in the witness file, oldest first."""
    path = settings.PORTAL_LEDGER_WITNESS_FILE
    if not path or not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["note"] for line in fh if line.strip()]


# ---------------------------------------------------------------- bulk recording (one COPY instead of a row each)


def ledger_record_many(entries) -> int:
    """Record many state changes at once, in the caller's transaction: the bulk twin of ledger_record().

    `entries` yields (actor, action, target, data) tuples, with the same meaning as ledger_record()'s
    arguments; each becomes exactly the entry ledger_record() would write (same canonical body), but all
    go into the pending table with one COPY. For bulk writers (generate_scale, imports) whose rows are
    themselves COPYed in the same transaction. Returns how many entries were recorded."""
    if not connection.in_atomic_block:
        raise LedgerError("ledger_record_many() must run inside the transaction of the changes it records")
    now = timezone.now()
    stamp = format_timestamp(now)
    actors: dict[Any, Actor] = {}
    count = 0
    cursor = connection.cursor()
    with cursor.cursor.copy(
        "COPY ledger_pending (canonical, recorded_at, actor_type, actor_id, actor_label, action, object_type, "
        "object_id) FROM STDIN"
    ) as copy:
        for actor, action, target, data in entries:
            # Actors repeat (one source for thousands of entries): normalise each once.
            key = actor if isinstance(actor, (str, type(None))) else (type(actor).__name__, getattr(actor, "pk", None))
            who = actors.get(key)
            if who is None:
                who = actors[key] = actor_of(actor)
            object_type, object_id = object_ref(target)
            body = {
                "v": ENTRY_VERSION,
                "time": stamp,
                "actor": who.as_json(),
                "action": action,
                "object": {"type": object_type, "id": object_id},
                "data": to_jsonable(data or {}),
            }
            copy.write_row(
                (canonical_json(body), now, who.type, who.id, who.label[:200], action, object_type, object_id[:200])
            )
            count += 1
    return count
