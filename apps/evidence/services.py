"""Writes of evidence: artifacts, evidence, subjects, lineage edges and detail records.

`evidence_record()` is the only writer. It runs inside the caller's transaction (the
receipt's parse) and writes in bulk, so a 10,000-component SBOM or a 50,000-result
SARIF takes a handful of statements: artifacts and edges through
INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING, detail rows through COPY.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from apps.evidence.models import Artifact, EffectiveBasis, Evidence, EvidenceSubject
from apps.formats import Ending, EvidenceFacts, ParseError, ParseResult, Subject
from apps.formats.subjects import short_commit_parts
from apps.ledger.services import ledger_record, ledger_record_many

# A btree index entry must stay below ~2,700 bytes; identities longer than this are refused.
MAX_URI_BYTES = 2000
# Artifact.Kind.values rebuilds its list on every access; a subject check runs once per parsed item.
_ARTIFACT_KINDS = frozenset(Artifact.Kind.values)
# One encoder for every detail row: json.dumps() with options builds a new encoder per call.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# Detail rows are sent to COPY in chunks of about this many bytes.
COPY_CHUNK = 1 << 20


def binding_refusal(source_name: str, bound_slug: str, subject: str, owner_slug: str) -> str:
    """The one wording of a refusal (the API's 403, a receipt's note, an evidence's `not_attached`)."""
    return f"source {source_name!r} is bound to system {bound_slug}; subject {subject} belongs to {owner_slug}"


def json_clean(value):
    """`value` with NUL characters removed from every string: PostgreSQL's jsonb refuses \\u0000."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {json_clean(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    return value


def json_text(value) -> str:
    """JSON text that jsonb accepts (no NUL, no NaN)."""
    text = _JSON.encode(value)
    if "\\u0000" in text:
        text = _JSON.encode(json_clean(value))
    return text


def _array(values: list, cast: str) -> tuple[str, object]:
    """(SQL, parameter) for an array parameter of `cast` ("text" or "bigint").

    Django's psycopg cursors bind parameters on the client: a Python list is quoted element by
    element in Python, which for 10,000s of values costs more than the statement. One string of
    the values joined by newlines is quoted in one go and split by the server, the same array;
    lists whose values could hold a newline, or that a split could misread (one empty string),
    go as a list."""
    if len(values) > 1 and not any("\n" in v for v in values if isinstance(v, str)):
        return f"string_to_array(%s, E'\\n')::{cast}[]", "\n".join(map(str, values))
    return f"%s::{cast}[]", list(values)


def _check_subject(subject: Subject) -> None:
    if len(subject.uri.encode()) > MAX_URI_BYTES:
        raise ParseError(f"subject: the identity {subject.uri[:80]!r}… is longer than {MAX_URI_BYTES} bytes")
    if subject.kind not in _ARTIFACT_KINDS:
        raise ParseError(f"subject: unknown artifact kind {subject.kind!r}")


def artifacts_ensure(subjects: Iterable[Subject], *, system_id: int | None, now: datetime) -> dict[str, int]:
    """Artifact ids by uri, creating the missing ones. Race-safe: concurrent parses of the same
    identities meet on the unique index (ON CONFLICT DO NOTHING), in sorted order (no deadlock)."""
    by_uri: dict[str, Subject] = {}
    for subject in subjects:
        if subject.uri not in by_uri:
            _check_subject(subject)
            by_uri[subject.uri] = subject
    if not by_uri:
        return {}
    joined = _commits_join(by_uri)
    uris = sorted(by_uri)
    columns = [
        _array([by_uri[u].kind for u in uris], "text"),
        _array(uris, "text"),
        _array([(by_uri[u].digest or "")[:140] for u in uris], "text"),
        _array([(by_uri[u].name or "")[:300] for u in uris], "text"),
    ]
    wanted_sql, wanted = _array(uris + sorted(joined.values()), "text")
    arrays = ", ".join(sql for sql, _ in columns)  # constant fragments; the values go as parameters
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO evidence_artifact (kind, uri, digest, name, system_id, first_seen) "  # noqa: S608
            f"SELECT k, u, d, n, %s, %s FROM unnest({arrays}) AS t(k, u, d, n) ORDER BY u ON CONFLICT (uri) DO NOTHING",
            [system_id, now, *(param for _, param in columns)],
        )
        cursor.execute(f"SELECT uri, id FROM evidence_artifact WHERE uri = ANY({wanted_sql})", [wanted])  # noqa: S608
        ids = dict(cursor.fetchall())
    return {**ids, **{short: ids[long] for short, long in joined.items()}}


# Commits whose identity starts with a given one (an abbreviated sha's candidates). A scan of the commit
# artifacts, run only for abbreviations, which are rare; full shas look their abbreviations up by the
# unique `uri` index instead (every prefix of 7 to 39 digits, exactly).
_COMMITS_WITH_PREFIX = (
    "SELECT id, uri FROM evidence_artifact WHERE kind = 'commit' AND starts_with(uri, %s) "
)


def _commits_join(by_uri: dict[str, Subject]) -> dict[str, str]:
    """One commit, one node (issue 20, hole 4): an abbreviated sha joins the full sha it abbreviates
    in the same repository when exactly one known commit there starts with it; a full sha seen for the
    first time takes over the artifact of its abbreviation (the artifact is renamed in place, so the
    evidence and edges already about it are about the full sha), when that abbreviation fits no other
    known commit. Ambiguous abbreviations stay their own node. Mutates `by_uri`; returns the
    abbreviated identities that now mean a full one ({short uri: long uri})."""
    joined: dict[str, str] = {}
    commits = [uri for uri, s in by_uri.items() if s.kind == Artifact.Kind.COMMIT]
    if not commits:
        return joined
    with connection.cursor() as cursor:
        for uri in commits:
            parts = short_commit_parts(uri)
            if parts is not None:  # an abbreviation: the one full sha it names, if there is exactly one
                full = {u for u in by_uri if u.startswith(uri) and u != uri and short_commit_parts(u) is None}
                cursor.execute(_COMMITS_WITH_PREFIX + "AND length(uri) >= %s", [uri, len(parts[0]) + 40])
                full |= {u for _, u in cursor.fetchall()}
                if len(full) == 1:
                    joined[uri] = full.pop()
                    del by_uri[uri]
                continue
            head, _, sha = uri.rpartition("@")
            cursor.execute(
                "SELECT id, uri FROM evidence_artifact WHERE uri = ANY(%s::text[]) AND kind = 'commit' "
                "AND NOT EXISTS (SELECT 1 FROM evidence_artifact WHERE uri = %s) ORDER BY length(uri) DESC FOR UPDATE",
                [[f"{head}@{sha[:n]}" for n in range(7, 40)], uri],
            )
            for artifact_id, short in cursor.fetchall():
                # The abbreviation must fit no other full sha known in this repository.
                cursor.execute(_COMMITS_WITH_PREFIX + "AND length(uri) >= %s AND uri <> %s LIMIT 1",
                               [short, len(head) + 41, uri])  # fmt: skip
                if cursor.fetchone():
                    continue
                subject = by_uri[uri]
                cursor.execute(
                    "UPDATE evidence_artifact SET uri = %s, digest = %s, name = %s WHERE id = %s",
                    [uri, (subject.digest or "")[:140], (subject.name or "")[:300], artifact_id],
                )
                break  # one artifact takes the full identity; a longer abbreviation was preferred
    return joined


def _copy_records(evidence_id: int, records: list[dict]) -> None:
    """COPY the detail rows, formatted here in COPY's text format and sent in chunks.

    psycopg's write_row() formats each value through its dumpers, which costs more than the JSON
    itself; the rows are simple enough to format directly: two integers and JSON text, in which
    json.dumps has already escaped every control character (tab, newline, CR), so the only byte
    COPY's text format reads specially is the backslash, which is doubled."""
    cursor = connection.cursor()
    with cursor.cursor.copy("COPY evidence_evidencerecord (evidence_id, ordinal, data) FROM STDIN") as copy:
        prefix = f"{evidence_id}\t"
        lines: list[str] = []
        size = 0
        for ordinal, record in enumerate(records):
            line = f"{prefix}{ordinal}\t{json_text(record)}\n"
            lines.append(line)
            size += len(line)
            if size >= COPY_CHUNK or ordinal == len(records) - 1:
                copy.write("".join(lines).replace("\\", "\\\\").encode())
                lines, size = [], 0


def _insert_edges(rows: list[tuple[int, int, str]], *, evidence_id: int, now: datetime) -> int:
    if not rows:
        return 0
    rows = sorted(set(rows))
    columns = [
        _array([r[0] for r in rows], "bigint"),
        _array([r[1] for r in rows], "bigint"),
        _array([r[2][:40] for r in rows], "text"),
    ]
    arrays = ", ".join(sql for sql, _ in columns)  # constant fragments; the values go as parameters
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO evidence_lineageedge (source_id, target_id, relation, evidence_id, created_at) "  # noqa: S608
            f"SELECT s, t, r, %s, %s FROM unnest({arrays}) AS e(s, t, r) "
            "ON CONFLICT (source_id, target_id, relation, valid_from) DO NOTHING",
            [evidence_id, now, *(param for _, param in columns)],
        )
        return cursor.rowcount


# Edges into a deployment that make it run (older stored name included): they carry a period.
DEPLOYMENT_RELATIONS = ("deployed-as", "deployed-from", "promoted-to")

# Running deployment edges (valid_from set, valid_to null) and their targets' identities.
_RUNNING_SQL = (
    "SELECT e.id, e.valid_from, e.evidence_id, a.uri FROM evidence_lineageedge e "
    "JOIN evidence_artifact a ON a.id = e.target_id "
    "WHERE e.valid_from IS NOT NULL AND e.valid_to IS NULL AND a.kind = 'deployment' "
)


def _is_deployment_edge(edge) -> bool:
    return edge.target.kind == Artifact.Kind.DEPLOYMENT and edge.relation in DEPLOYMENT_RELATIONS


def deployment_slot(uri: str) -> str:
    """Where a deployment runs: its identity without the last segment (the digest, version or id):
    ``deployment:mlflow/<model>/<alias>``, ``deployment:oci/<host>/<repo>/<tag>``, ``deployment:<repo>/<env>``.
    One deployment runs in a slot at a time."""
    return uri.rsplit("/", 1)[0]


# The running deployment edges of one slot: the slot's deployments by their slot (an expression index,
# artifact_deployment_slot, the same expression as deployment_slot()), then each one's running edges
# (a partial index on the target). The shape fixes that order whatever the statistics say (a bulk load
# runs before any ANALYZE). Matching the uri's prefix instead filtered every deployment ever recorded:
# 9 ms a call at 13,000 deployments, growing with each one.
_RUNNING_IN_SLOT_SQL = """
WITH slot AS MATERIALIZED (
    SELECT id, uri FROM evidence_artifact
    WHERE kind = 'deployment' AND left(uri, length(uri) - strpos(reverse(uri), '/')) = %s
)
SELECT e.id, e.valid_from, e.evidence_id, slot.uri FROM slot CROSS JOIN LATERAL (
    SELECT id, valid_from, evidence_id FROM evidence_lineageedge
    WHERE target_id = slot.id AND valid_from IS NOT NULL AND valid_to IS NULL OFFSET 0
) e
"""


def _running_in_slot(cursor, slot: str) -> list[tuple]:
    cursor.execute(_RUNNING_IN_SLOT_SQL, [slot])
    return cursor.fetchall()


def _deployment_end(cursor, running: tuple, *, evidence: Evidence, at: datetime, actor) -> bool:
    """End one running deployment edge at `at` (never before it started); one ledger entry."""
    edge_id, valid_from, _, uri = running
    if valid_from > at:
        return False  # it started after this evidence's time: a later deployment, not this one to end
    cursor.execute(
        "UPDATE evidence_lineageedge SET valid_to = %s, ended_by_id = %s WHERE id = %s AND valid_to IS NULL",
        [at, evidence.pk, edge_id],
    )
    if not cursor.rowcount:
        return False
    ledger_record(
        actor=actor,
        action="deployment.ended",
        target=("evidence.lineageedge", edge_id),
        data={"deployment": uri, "valid_from": valid_from, "valid_to": at, "ended_by": str(evidence.pk)},
    )
    return True


def deployments_end(*, ends: list[Ending], evidence: Evidence, at: datetime, actor) -> int:
    """End the deployments `ends` name (an alias deleted, a stage left, an image deleted) at `at`."""
    ended = 0
    with connection.cursor() as cursor:
        for end in ends:
            if end.slot:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [end.slot])
                running = _running_in_slot(cursor, end.slot)
            elif end.deployment:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [deployment_slot(end.deployment)])
                cursor.execute(_RUNNING_SQL + "AND a.uri = %s", [end.deployment])
                running = cursor.fetchall()
            elif end.source:
                cursor.execute(
                    _RUNNING_SQL + "AND e.source_id = (SELECT id FROM evidence_artifact WHERE uri = %s)",  # noqa: S608
                    [end.source],
                )
                running = cursor.fetchall()
            else:
                continue
            ended += sum(_deployment_end(cursor, r, evidence=evidence, at=at, actor=actor) for r in running)
    return ended


def artifacts_mark_deleted(*, artifact_ids: list[int], evidence: Evidence, at: datetime, actor) -> int:
    """Mark artifacts deleted at `at` (a registry deleted the manifest); the first deletion stands.
    One ledger entry per artifact marked; returns how many were."""
    marked = 0
    for artifact in Artifact.objects.select_for_update().filter(pk__in=artifact_ids, deleted_at__isnull=True):
        artifact.deleted_at = at
        artifact.save(update_fields=["deleted_at"])
        ledger_record(
            actor=actor,
            action="artifact.deleted",
            target=artifact,
            data={"uri": artifact.uri, "deleted_at": at, "evidence": str(evidence.pk)},
        )
        marked += 1
    return marked


def deployment_edges_record(
    rows: list[tuple[int, int, str, str]], *, evidence: Evidence, at: datetime, failed: bool, actor, now: datetime
) -> int:
    """Record (source id, target id, relation, target uri) edges into deployments, each with a period.

    A deployment edge already running (same source, target and relation) stays as it is: the same
    promotion seen again. Otherwise the deployments running in the same slot (deployment_slot) end
    at `at`, and the new edge runs from `at`; if one there started later (evidence arriving out of
    order), the new edge ends when that one started. A failed deployment (the evidence's verdict)
    ends what runs in its own deployment and runs nowhere itself (an empty period). Returns how
    many edges were new."""
    written = 0
    with connection.cursor() as cursor:
        for source_id, target_id, relation, uri in sorted(set(rows)):
            slot = deployment_slot(uri)
            # One writer per slot at a time: two parses of moves of one alias must not both run.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [slot])
            cursor.execute(
                "SELECT 1 FROM evidence_lineageedge WHERE source_id = %s AND target_id = %s AND relation = %s "
                "AND valid_from IS NOT NULL AND valid_to IS NULL",
                [source_id, target_id, relation],
            )
            if cursor.fetchone() and not failed:
                continue
            valid_to, ended_by = (at, evidence.pk) if failed else (None, None)
            for running in _running_in_slot(cursor, slot):
                same = running[3] == uri
                if failed:
                    if same:  # a failed deployment ends only itself
                        _deployment_end(cursor, running, evidence=evidence, at=at, actor=actor)
                    continue
                if same:
                    continue  # the same deployment stated by another edge (commit and image): it runs on
                if running[1] > at:  # a later deployment here is known already: this one ran until it
                    if valid_to is None or running[1] < valid_to:
                        valid_to, ended_by = running[1], running[2]
                    continue
                _deployment_end(cursor, running, evidence=evidence, at=at, actor=actor)
            cursor.execute(
                "INSERT INTO evidence_lineageedge (source_id, target_id, relation, evidence_id, created_at, "
                "valid_from, valid_to, ended_by_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (source_id, target_id, relation, valid_from) DO NOTHING",
                [source_id, target_id, relation[:40], evidence.pk, now, at, valid_to, ended_by],
            )
            written += cursor.rowcount
    return written


def _foreign_artifacts(ids: dict[str, int], bound_system_id: int | None) -> dict[str, str]:
    """uri -> owning system's slug, for the artifacts among `ids` that another system owns."""
    if not bound_system_id or not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            # Owned: the other system's evidence is about it (apps.ingest.binding.owned_by_other_system).
            "SELECT a.uri, s.slug FROM evidence_artifact a JOIN inventory_system s ON s.id = a.system_id "
            "WHERE a.id = ANY(%s::bigint[]) AND a.system_id <> %s AND EXISTS (SELECT 1 FROM evidence_evidence e "
            "WHERE e.subject_id = a.id AND e.system_id = a.system_id)",
            [list(ids.values()), bound_system_id],
        )
        return dict(cursor.fetchall())


def _attach_to_system(artifact_ids: list[int], *, system_id: int | None, receipt, actor) -> None:
    """Artifacts that belong to no system become `system_id`'s when evidence names them as its subject
    with a system (a bound source, or an upload naming the system): one ledger entry each."""
    if not system_id or not artifact_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE evidence_artifact SET system_id = %s WHERE id = ANY(%s::bigint[]) AND system_id IS NULL "
            "RETURNING id, uri",
            [system_id, sorted(set(artifact_ids))],
        )
        attached = cursor.fetchall()
    for artifact_id, uri in attached:
        ledger_record(
            actor=actor,
            action="artifact.attached",
            target=("evidence.artifact", artifact_id),
            data={"uri": uri, "system": system_id, "receipt": str(receipt.pk)},
        )


def _contains_rows(
    facts: EvidenceFacts, primary: str | None, ids: dict[str, int], *, given: bool
) -> list[tuple[int, int, str]]:
    """part -contains-> the evidence's primary subject, for the parts a parser listed (an SBOM's packages).

    When the uploader named the subject (an image), the parser's own subjects (the SBOM's main
    component or described packages) are parts of it too. Never into another system's artifact:
    `primary` is already one this evidence may be about."""
    if not facts.contents or primary is None:
        return []
    parts = [*facts.contents, *(facts.subjects if given else ())]
    return [(ids[part.uri], ids[primary], "contains") for part in parts if part.uri != primary]


def _effective_at(facts: EvidenceFacts, given_effective_at: datetime | None, receipt) -> tuple[datetime, str]:
    """When the evidence speaks of, and why: the uploader's date, else the content's, else its arrival."""
    if given_effective_at is not None:
        return given_effective_at, EffectiveBasis.UPLOAD
    if facts.effective_at is not None:
        return facts.effective_at, EffectiveBasis.CONTENT
    return receipt.received_at, EffectiveBasis.RECEIVED


def evidence_record(
    *,
    receipt,
    result: ParseResult,
    given_subject: Subject | None = None,
    given_effective_at: datetime | None = None,
    system_id: int | None = None,
    bound_source=None,
    actor="system:receipt_parse",
) -> list[Evidence]:
    """Write the evidence a parser found in `receipt`; one ledger entry per evidence item.

    The primary subject is what the uploader named (`given_subject`), else the parser's first
    subject. Must run inside the transaction that marks the receipt parsed.

    `bound_source` (a source bound to a system, issue 17): subjects another system owns are not
    attached (no subject link, no lineage edge into them); the evidence says so in its summary's
    `not_attached` list, with the reason. A primary subject that belongs to no system becomes the
    evidence's system's (`_attach_to_system`).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("evidence_record() must run inside the receipt's transaction")
    now = timezone.now()
    facts_list: list[EvidenceFacts] = result.evidence
    everything: list[Subject] = []
    for facts in facts_list:
        everything.extend(facts.subjects)
        for edge in facts.edges:
            everything.extend((edge.source, edge.target))
        everything.extend(facts.contents)
    if given_subject is not None:
        everything.append(given_subject)
    ids = artifacts_ensure(everything, system_id=system_id, now=now)
    bound_system_id = bound_source.system_id if bound_source is not None else None
    foreign = _foreign_artifacts(ids, bound_system_id)

    written = []
    primaries: list[int] = []
    for ordinal, facts in enumerate(facts_list):
        named = list(dict.fromkeys(s.uri for s in facts.subjects))
        if given_subject is not None:
            named = [given_subject.uri, *(u for u in named if u != given_subject.uri)]
        refused = [u for u in named if u in foreign]
        refused += [e.target.uri for e in facts.edges if e.target.uri in foreign and e.target.uri not in refused]
        subjects = [u for u in named if u not in foreign]
        primary = subjects[0] if subjects else None
        if given_subject is not None and given_subject.uri in foreign:
            primary = None  # what the uploader named is another system's: about nothing rather than the wrong thing
        summary = json_clean(facts.summary)
        if refused:
            summary = {
                **summary,
                "not_attached": [
                    {
                        "subject": uri,
                        "reason": binding_refusal(bound_source.name, bound_source.system.slug, uri, foreign[uri]),
                    }
                    for uri in refused
                ],
            }
        if primary:
            primaries.append(ids[primary])
        effective_at, basis = _effective_at(facts, given_effective_at, receipt)
        if facts.verdict not in Evidence.Verdict.values:
            raise ParseError(f"parser returned an unknown verdict {facts.verdict!r}")
        evidence = Evidence.objects.create(
            receipt_id=receipt.pk,
            generation=receipt.generation,
            ordinal=ordinal,
            source_id=receipt.source_id,
            system_id=system_id,
            subject_id=ids[primary] if primary else None,
            kind=facts.kind[:40],
            format=result.format[:40],
            title=(facts.title or facts.kind)[:500],
            verdict=facts.verdict,
            verdict_reason=facts.verdict_reason,
            summary=summary,
            received_at=receipt.received_at,
            effective_at=effective_at,
            effective_basis=basis,
            sha256=receipt.sha256,
        )
        links = (
            [EvidenceSubject(evidence=evidence, artifact_id=ids[primary], role=EvidenceSubject.Role.PRIMARY)]
            if (primary)
            else []
        )
        links += [
            EvidenceSubject(evidence=evidence, artifact_id=ids[uri], role=EvidenceSubject.Role.SUBJECT)
            for uri in subjects
            if uri != primary
        ]
        EvidenceSubject.objects.bulk_create(links)
        allowed = [e for e in facts.edges if e.source.uri != e.target.uri and e.target.uri not in foreign]
        edges = _insert_edges(
            [(ids[e.source.uri], ids[e.target.uri], e.relation) for e in allowed if not _is_deployment_edge(e)]
            + _contains_rows(facts, primary, ids, given=given_subject is not None),
            evidence_id=evidence.pk,
            now=now,
        )
        # Deployments have periods (issue 20): what ends first, then what starts.
        if facts.ends:
            deployments_end(ends=facts.ends, evidence=evidence, at=effective_at, actor=actor)
        if facts.deleted:
            artifacts_mark_deleted(
                artifact_ids=[ids[u] for u in facts.deleted if u in ids and u not in foreign],
                evidence=evidence,
                at=effective_at,
                actor=actor,
            )
        deployment_rows = [
            (ids[e.source.uri], ids[e.target.uri], e.relation, e.target.uri) for e in allowed if _is_deployment_edge(e)
        ]
        if deployment_rows:
            edges += deployment_edges_record(
                deployment_rows,
                evidence=evidence,
                at=effective_at,
                failed=facts.verdict == Evidence.Verdict.FAIL,
                actor=actor,
                now=now,
            )
        if facts.records:
            _copy_records(evidence.pk, facts.records)
        ledger_record(
            actor=actor,
            action="evidence.recorded",
            target=evidence,
            data={
                "receipt": str(receipt.pk),
                "sha256": receipt.sha256,
                "kind": evidence.kind,
                "format": evidence.format,
                "verdict": evidence.verdict,
                "subject": primary or "",
                "effective_at": effective_at,
                "records": len(facts.records),
                "new_edges": edges,
            },
        )
        written.append(evidence)
    _attach_to_system(primaries, system_id=system_id, receipt=receipt, actor=actor)
    return written


# ---------------------------------------------------------------- bulk paths (issue 10: generate_scale, imports)


@dataclass(frozen=True)
class BulkEvidence:
    """One evidence row for evidence_bulk_record(): what evidence_record() would write for one parsed item."""

    receipt_id: int
    receipt_sha256: str
    ordinal: int
    source_id: int
    system_id: int | None
    subject_id: int | None  # the primary artifact
    subject_uri: str  # its identity, for the ledger entry
    kind: str
    format: str
    title: str
    verdict: str
    summary: dict
    received_at: datetime
    effective_at: datetime
    effective_basis: str = EffectiveBasis.CONTENT
    verdict_reason: str = ""
    also_about: tuple[int, ...] = ()  # other artifacts it is about (EvidenceSubject role "subject")
    new_edges: int = 0  # lineage edges this item states (written by lineage_edges_bulk_record)
    generation: int = 1


def _reserve_ids(table: str, n: int) -> list[int]:
    """`n` fresh primary keys of `table` from its identity sequence (race-free: nextval per row)."""
    if n <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",  # noqa: S608
            [n],
        )
        return [r[0] for r in cursor.fetchall()]


def artifacts_bulk_create(rows: Iterable[tuple[str, str, str, str, int | None, datetime]]) -> dict[str, int]:
    """Artifact ids by uri for many (kind, uri, digest, name, system_id, first_seen) rows, creating the
    missing ones: the bulk twin of artifacts_ensure() with a system and first-seen time per row."""
    rows = list(rows)
    out: dict[str, int] = {}
    for start in range(0, len(rows), 20_000):
        chunk = sorted(rows[start : start + 20_000], key=lambda r: r[1])
        for kind, uri, *_ in chunk:
            _check_subject(Subject(kind=kind, uri=uri))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO evidence_artifact (kind, uri, digest, name, system_id, first_seen) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
                "%s::timestamptz[]) ON CONFLICT (uri) DO NOTHING",
                [[r[0] for r in chunk], [r[1] for r in chunk], [r[2][:140] for r in chunk], [r[3][:300] for r in chunk],
                 [r[4] for r in chunk], [r[5] for r in chunk]],
            )  # fmt: skip
            cursor.execute("SELECT uri, id FROM evidence_artifact WHERE uri = ANY(%s::text[])", [[r[1] for r in chunk]])
            out.update(cursor.fetchall())
    return out


def evidence_bulk_record(items: list[BulkEvidence], *, actor="system:receipt_parse") -> list[int]:
    """Write many evidence rows with their subjects and one ledger entry each (the same entry
    evidence_record() writes), with COPY: the bulk path for generated data sets and imports.

    Must run inside the caller's transaction (with the receipts it refers to). Returns the new ids,
    in the order of `items`. The items' parsed detail rows and edges are not written here: edges
    go through lineage_edges_bulk_record() once the ids are known."""

    if not connection.in_atomic_block:
        raise RuntimeError("evidence_bulk_record() must run inside the receipts' transaction")
    ids = _reserve_ids("evidence_evidence", len(items))
    verdicts = frozenset(Evidence.Verdict.values)  # the property builds a new list on each read
    cursor = connection.cursor()
    with cursor.cursor.copy(
        "COPY evidence_evidence (id, receipt_id, generation, ordinal, source_id, system_id, subject_id, kind, "
        "format, title, verdict, verdict_reason, summary, received_at, effective_at, effective_basis, sha256) "
        "FROM STDIN"
    ) as copy:
        for pk, e in zip(ids, items, strict=True):
            if e.verdict not in verdicts:
                raise ParseError(f"unknown verdict {e.verdict!r}")
            copy.write_row((pk, e.receipt_id, e.generation, e.ordinal, e.source_id, e.system_id, e.subject_id,
                            e.kind[:40], e.format[:40], e.title[:500], e.verdict, e.verdict_reason,
                            json_text(e.summary), e.received_at, e.effective_at, e.effective_basis,
                            e.receipt_sha256))  # fmt: skip
    with cursor.cursor.copy("COPY evidence_evidencesubject (evidence_id, artifact_id, role) FROM STDIN") as copy:
        for pk, e in zip(ids, items, strict=True):
            if e.subject_id:
                copy.write_row((pk, e.subject_id, EvidenceSubject.Role.PRIMARY))
            for other in dict.fromkeys(e.also_about):
                if other != e.subject_id:
                    copy.write_row((pk, other, EvidenceSubject.Role.SUBJECT))
    ledger_record_many(
        (
            actor,
            "evidence.recorded",
            ("evidence.evidence", pk),
            {"receipt": str(e.receipt_id), "sha256": e.receipt_sha256, "kind": e.kind[:40], "format": e.format[:40],
             "verdict": e.verdict, "subject": e.subject_uri, "effective_at": e.effective_at, "records": 0,
             "new_edges": e.new_edges},
        )
        for pk, e in zip(ids, items, strict=True)
    )  # fmt: skip
    return ids


def lineage_edges_bulk_record(
    rows: Iterable[tuple[int, int, str, int, datetime]], *, actor="system:receipt_parse"
) -> int:
    """Insert many (source_id, target_id, relation, evidence_id, created_at) lineage edges; an edge
    that exists already keeps its first evidence (as in evidence_record). Returns how many were new.

    Edges into a deployment (DEPLOYMENT_RELATIONS) get their period as the live path gives it:
    deployment_edges_record per stating evidence, in the order of the evidences' effective times,
    so a later deployment to the same slot ends the earlier one (with its ledger entry)."""
    rows = [r for r in rows if r[0] != r[1]]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, uri FROM evidence_artifact WHERE kind = 'deployment' AND id = ANY(%s::bigint[])",
            [sorted({r[1] for r in rows if r[2] in DEPLOYMENT_RELATIONS})],
        )
        deployments = dict(cursor.fetchall())
    written = _deployment_edges_bulk_record(
        [r for r in rows if r[2] in DEPLOYMENT_RELATIONS and r[1] in deployments], deployments, actor=actor
    )
    rows = [r for r in rows if not (r[2] in DEPLOYMENT_RELATIONS and r[1] in deployments)]
    for start in range(0, len(rows), 20_000):
        chunk = sorted(rows[start : start + 20_000])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO evidence_lineageedge (source_id, target_id, relation, evidence_id, created_at) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[]) "
                "ON CONFLICT (source_id, target_id, relation, valid_from) DO NOTHING",
                [[r[0] for r in chunk], [r[1] for r in chunk], [r[2][:40] for r in chunk], [r[3] for r in chunk],
                 [r[4] for r in chunk]],
            )  # fmt: skip
            written += cursor.rowcount
    return written


def _deployment_edges_bulk_record(rows: list[tuple], uris: dict[int, str], *, actor) -> int:
    """The deployment edges of lineage_edges_bulk_record, through the live path's rule
    (deployment_edges_record), one stating evidence at a time, earliest effective time first."""
    if not rows:
        return 0
    stating = Evidence.objects.only("id", "effective_at", "verdict").in_bulk({r[3] for r in rows})
    by_statement: dict[tuple[int, datetime], list[tuple[int, int, str, str]]] = {}
    for source_id, target_id, relation, evidence_id, created_at in rows:
        by_statement.setdefault((evidence_id, created_at), []).append((source_id, target_id, relation, uris[target_id]))
    written = 0
    for evidence_id, created_at in sorted(by_statement, key=lambda k: (stating[k[0]].effective_at, k)):
        evidence = stating[evidence_id]
        written += deployment_edges_record(
            by_statement[(evidence_id, created_at)],
            evidence=evidence,
            at=evidence.effective_at,
            failed=evidence.verdict == Evidence.Verdict.FAIL,
            actor=actor,
            now=created_at,
        )
    return written
