"""Words inside evidence: fill the EvidenceText index from detail rows, match it, rank it, show where.

Filling runs after the parse commits (issue 25): the pipeline step "search.index" only adds the new
evidence ids, with transaction.on_commit, to a Redis set that the task
apps.search.tasks.evidence_search_index_pending drains (woken at most once a second, so one run serves
every parse of that second): it indexes the evidence and marks each piece indexed (EvidenceIndexed) in
one transaction per batch, and retries database errors.
Inside the parse it cost more than the parse itself (a 50,000-result SARIF: 98,700 rows, 3.3 of its
5 CPU seconds), and an index failure rolled back the evidence. What the task misses (a lost message, a
broker outage at commit, retries used up) the reconcile finds: evidence with no EvidenceIndexed row,
indexed by beat every minute (`search-reconcile`) or by `manage.py search_reconcile`. Until then such
evidence is found by its title, not yet by the words inside it.

Filling is one INSERT … SELECT over evidence_evidencerecord (no rows through Python, so the backfill
of a large table is one statement per batch): per record, the values the parsers store under known
keys (junit: classname::name and a failing test's message; SARIF: rule_id, message, location;
Checkov JSON: check_id, check_name, file_path, resource; CycloneDX/SPDX: name and purl; Terraform:
address). Values are capped at MAX_VALUE characters, as
parsers already cap free text (apps.formats.base.MAX_TEXT).

Matching is full-text (`vector @@ query`, GIN) or, for one identifier-like word (a path, a purl, a
dotted name), trigram word similarity (`value %> word`, GIN gin_trgm_ops). A content match weighs
CONTENT_WEIGHT of a title match: the best ts_rank of the matching values, or a trigram similarity
scaled to the same range, halved; a one-word title match (ts_rank ≈ 0.061) outranks any content-only
match (≤ 0.05).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.search.models import EvidenceText
from apps.search.tasks import evidence_search_index_pending as evidence_search_index_pending_task

logger = logging.getLogger(__name__)

MAX_VALUE = 500
CONTENT_WEIGHT = 0.5
TRIGRAM_SCALE = 0.1  # ts_rank of a 'simple' vector stays under ~0.1; similarity (0..1) is brought to that range
SNIPPET = 160

F_ = EvidenceText.Field
# (field, SQL for its value from record r of evidence e); NULL or '' rows are skipped.
_VALUES = [
    (F_.TEST_NAME, "CASE WHEN e.format = 'junit' THEN concat_ws('::', NULLIF(r.data->>'classname', ''), "
                   "r.data->>'name') END"),
    (F_.TEST_FAILURE, "CASE WHEN e.format = 'junit' AND r.data->>'status' <> 'passed' THEN r.data->>'message' END"),
    (F_.RULE_ID, "COALESCE(r.data->>'rule_id', r.data->>'check_id')"),
    (F_.FINDING_MESSAGE, "CASE WHEN r.data ? 'rule_id' THEN r.data->>'message' ELSE r.data->>'check_name' END"),
    (F_.LOCATION, "COALESCE(r.data->>'location', r.data->>'file_path')"),
    (F_.COMPONENT, "CASE WHEN r.data ? 'purl' THEN concat_ws('/', NULLIF(r.data->>'group', ''), r.data->>'name') END"),
    (F_.PURL, "r.data->>'purl'"),
    (F_.RESOURCE, "COALESCE(r.data->>'address', r.data->>'resource')"),
]
_LATERAL = ",\n".join(f"('{field.value}', {sql})" for field, sql in _VALUES)
INDEX_SQL = f"""
INSERT INTO search_evidencetext (evidence_id, field, value)
SELECT DISTINCT r.evidence_id, v.field, left(v.value, {MAX_VALUE})
FROM evidence_evidencerecord r
JOIN evidence_evidence e ON e.id = r.evidence_id
CROSS JOIN LATERAL (VALUES {_LATERAL}) AS v(field, value)
WHERE {{where}} AND COALESCE(v.value, '') <> ''
ON CONFLICT DO NOTHING
"""  # noqa: S608 - constants only; ids go in as parameters


def evidence_content_index(*, evidence_ids: list[int] | None) -> int:
    """Index the values inside these pieces of evidence (None: all, batch by batch); returns rows written.

    Safe to run twice: the unique (evidence, field, value) constraint drops what is already there."""
    with connection.cursor() as cursor:
        if evidence_ids is not None:
            if not evidence_ids:
                return 0
            cursor.execute(INDEX_SQL.format(where="r.evidence_id = ANY(%s)"), [list(evidence_ids)])
            return cursor.rowcount
        written, last = 0, 0
        while True:  # batches of evidence ids keep each statement's memory and lock time bounded
            cursor.execute("SELECT id FROM evidence_evidence WHERE id > %s ORDER BY id LIMIT 5000", [last])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return written
            cursor.execute(INDEX_SQL.format(where="r.evidence_id = ANY(%s)"), [ids])
            written += cursor.rowcount
            last = ids[-1]


MARK_SQL = """
INSERT INTO search_evidenceindexed (evidence_id, indexed_at)
SELECT id, %s FROM evidence_evidence WHERE id = ANY(%s)
ON CONFLICT DO NOTHING
"""
UNINDEXED_SQL = """
SELECT e.id FROM evidence_evidence e
WHERE NOT EXISTS (SELECT 1 FROM search_evidenceindexed i WHERE i.evidence_id = e.id)
  AND (%(before)s::timestamptz IS NULL OR e.received_at < %(before)s)
ORDER BY e.id LIMIT %(size)s
"""
RECONCILE_BATCH = 500  # evidence ids per transaction: bounded memory and lock time, as the backfill


# New evidence waiting for its index: a Redis set of evidence ids, drained by one task for many parses.
PENDING_KEY = "search:pending-evidence"
PENDING_FLAG = "search:index-queued"  # a wake-up is queued (the cache, as policy's evaluation queue)
PENDING_FLAG_SECONDS = 30
PENDING_BATCH = 2000  # evidence ids per transaction
PENDING_ROUNDS = 10  # then a fresh message, behind the parses queued meanwhile

_redis_client = None


def _redis():
    global _redis_client  # noqa: PLW0603 - one connection pool per process
    if _redis_client is None:
        import redis  # noqa: PLC0415 - only processes that schedule or drain the index connect

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    return _redis_client


def evidence_search_index_schedule(*, evidence_ids: list[int]) -> None:
    """The pipeline step "search.index": index new evidence after the parse commits, in the worker.

    After commit the ids join a Redis set and one task, woken at most once a second, indexes every id
    in it: a storm of parses pays for one task, not one per receipt. robust: a Redis that is down at
    commit must not undo or fail the committed parse; the reconcile indexes that evidence later."""
    ids = list(evidence_ids)
    if ids:
        transaction.on_commit(lambda: _pending_add(ids), robust=True)


def _pending_add(ids: list[int]) -> None:
    _redis().sadd(PENDING_KEY, *ids)
    _wake(settings.PORTAL_AFTER_PARSE_DELAY_MS / 1000)


def _wake(countdown: float) -> None:
    """Queue the drain, unless a wake-up is queued already: it will find these ids too."""
    if cache.add(PENDING_FLAG, 1, timeout=PENDING_FLAG_SECONDS):
        evidence_search_index_pending_task.apply_async(countdown=countdown)


def evidence_search_index_pending() -> int:
    """Index the evidence waiting in the pending set, a batch per transaction; returns index rows written.

    Ids taken from the set go back to it if their batch fails (the task retries); ids lost with a worker
    killed mid-batch, or with Redis, are the reconcile's."""
    try:
        cache.delete(PENDING_FLAG)  # an id added from now on queues a fresh wake-up
    except Exception:  # noqa: BLE001 - drain anyway; the next parse or the reconcile comes back
        logger.warning("could not clear the search-index flag", exc_info=True)
    client = _redis()
    written = 0
    for _ in range(PENDING_ROUNDS):
        ids = sorted(int(i) for i in client.spop(PENDING_KEY, PENDING_BATCH) or ())
        if not ids:
            return written
        try:
            written += evidence_search_index(evidence_ids=ids)
        except Exception:
            client.sadd(PENDING_KEY, *ids)
            raise
        if len(ids) < PENDING_BATCH:
            return written
    _wake(0)  # more than PENDING_ROUNDS batches: a fresh message, behind the parses queued meanwhile
    return written


def evidence_search_index(*, evidence_ids: list[int]) -> int:
    """Index the values inside these pieces of evidence and mark each indexed, in one transaction; returns
    the index rows written. Safe to run twice (unique constraints); ids of evidence that is gone are skipped."""
    ids = list(evidence_ids)
    if not ids:
        return 0
    with transaction.atomic():
        written = evidence_content_index(evidence_ids=ids)
        with connection.cursor() as cursor:
            cursor.execute(MARK_SQL, [timezone.now(), ids])
    return written


def evidence_search_reconcile(
    *, batch: int = RECONCILE_BATCH, limit: int | None = None, received_before: datetime | None = None
) -> int:
    """Index evidence that is not indexed yet (its task was lost or gave up), oldest first, `batch` pieces per
    transaction, at most `limit` (None: until none is left); returns how many pieces it indexed.

    `received_before`: only evidence received before then (beat leaves what just arrived to its own task,
    which may still be queued; None: all)."""
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        with connection.cursor() as cursor:
            cursor.execute(UNINDEXED_SQL, {"before": received_before, "size": size})
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            break
        evidence_search_index(evidence_ids=ids)
        done += len(ids)
    return done


def _identifier(text: str) -> str | None:
    """The one word of an identifier-like query (trigram matching), or None for several words or syntax."""
    word = text.strip()
    if len(word) < 3 or re.search(r"\s", word) or word.startswith("-") or '"' in word:
        return None
    return word


def _matches(query: SearchQuery, text: str) -> QuerySet:
    condition = Q(vector=query)
    word = _identifier(text)
    if word:
        condition |= Q(value__trigram_word_similar=word)
    return EvidenceText.objects.filter(condition)


def content_matching_ids(query: SearchQuery, text: str) -> QuerySet:
    """Evidence ids with a value that matches (a subquery, for `pk__in`; scoping is the caller's)."""
    return _matches(query, text).values("evidence_id")


@dataclass(frozen=True)
class ContentMatch:
    """The best value matched inside one piece of evidence: its rank (already weighted), field and value."""

    rank: float
    field: str
    value: str


def content_best(ids: list[int], query: SearchQuery, text: str) -> dict[int, ContentMatch]:
    """Per evidence id (already scoped by the caller), its best matching value."""
    if not ids:
        return {}
    score = SearchRank(F("vector"), query)
    word = _identifier(text)
    if word:
        score = Greatest(score, TrigramWordSimilarity(Value(word), "value") * TRIGRAM_SCALE, output_field=FloatField())
    rows = (
        _matches(query, text)
        .filter(evidence_id__in=ids)
        .annotate(score=score)
        .order_by("evidence_id", "-score", "field", "value")
        .distinct("evidence_id")
        .values_list("evidence_id", "score", "field", "value")
    )
    labels = dict(EvidenceText.Field.choices)
    return {pk: ContentMatch(CONTENT_WEIGHT * score, labels[field], value) for pk, score, field, value in rows}


def _needles(text: str) -> list[str]:
    """The words of a query worth highlighting: no operators, quotes or negated words."""
    words = re.findall(r'-?"[^"]*"|\S+', text or "")
    return [w.strip('"') for w in words if not w.startswith("-") and w.lower() not in ("or", "and")]


def snippet(value: str, text: str) -> str:
    """At most SNIPPET characters of `value` around the first query word found in it (plain text)."""
    value = " ".join(value.split())
    lowered = value.lower()
    found = [i for i in (lowered.find(n.lower()) for n in _needles(text) if n) if i >= 0]
    start = max(0, min(found) - 40) if found else 0
    if len(value) - start < SNIPPET:
        start = max(0, len(value) - SNIPPET)
    cut = value[start : start + SNIPPET]
    if start > 0:
        cut = "…" + cut[1:]
    if start + SNIPPET < len(value):
        cut = cut[:-1] + "…"
    return cut


def snippet_html(snippet_text: str, text: str) -> SafeString:
    """The snippet HTML-escaped, with each query word found in it wrapped in <mark>."""
    needles = sorted({n for n in _needles(text) if n}, key=len, reverse=True)
    if not needles or not snippet_text:
        return escape(snippet_text)
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    parts, pos = [], 0
    for m in pattern.finditer(snippet_text):
        parts.append(escape(snippet_text[pos : m.start()]))
        parts.append(f"<mark>{escape(m.group(0))}</mark>")
        pos = m.end()
    parts.append(escape(snippet_text[pos:]))
    return mark_safe("".join(parts))  # noqa: S308 - every piece of input text went through escape()
