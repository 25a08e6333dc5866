"""Writes of evidence: artifacts, evidence, subjects, lineage edges and detail records.

`evidence_record()` is the only writer. It runs inside the caller's transaction (the
receipt's parse) and writes in bulk, so a 10,000-component SBOM or a 50,000-result
SARIF takes a handful of statements: artifacts and edges through
INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING, detail rows through COPY.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.utils import timezone

from apps.evidence.models import Artifact, EffectiveBasis, Evidence, EvidenceSubject
from apps.ingest.parsers import EvidenceFacts, ParseError, ParseResult, Subject
from apps.ledger.services import ledger_record

# A btree index entry must stay below ~2,700 bytes; identities longer than this are refused.
MAX_URI_BYTES = 2000


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
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if "\\u0000" in text:
        text = json.dumps(json_clean(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text


def _check_subject(subject: Subject) -> None:
    if len(subject.uri.encode()) > MAX_URI_BYTES:
        raise ParseError(f"subject: the identity {subject.uri[:80]!r}… is longer than {MAX_URI_BYTES} bytes")
    if subject.kind not in Artifact.Kind.values:
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
    uris = sorted(by_uri)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO evidence_artifact (kind, uri, digest, name, system_id, first_seen) "
            "SELECT k, u, d, n, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS t(k, u, d, n) "
            "ORDER BY u ON CONFLICT (uri) DO NOTHING",
            [
                system_id,
                now,
                [by_uri[u].kind for u in uris],
                uris,
                [(by_uri[u].digest or "")[:140] for u in uris],
                [(by_uri[u].name or "")[:300] for u in uris],
            ],
        )
        cursor.execute("SELECT uri, id FROM evidence_artifact WHERE uri = ANY(%s::text[])", [uris])
        return dict(cursor.fetchall())


def _copy_records(evidence_id: int, records: list[dict]) -> None:
    cursor = connection.cursor()
    with cursor.cursor.copy("COPY evidence_evidencerecord (evidence_id, ordinal, data) FROM STDIN") as copy:
        for ordinal, record in enumerate(records):
            copy.write_row((evidence_id, ordinal, json_text(record)))


def _insert_edges(rows: list[tuple[int, int, str]], *, evidence_id: int, now: datetime) -> int:
    if not rows:
        return 0
    rows = sorted(set(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO evidence_lineageedge (source_id, target_id, relation, evidence_id, created_at) "
            "SELECT s, t, r, %s, %s FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS e(s, t, r) "
            "ON CONFLICT (source_id, target_id, relation) DO NOTHING",
            [evidence_id, now, [r[0] for r in rows], [r[1] for r in rows], [r[2][:40] for r in rows]],
        )
        return cursor.rowcount


def evidence_record(
    *,
    receipt,
    result: ParseResult,
    given_subject: Subject | None = None,
    given_effective_at: datetime | None = None,
    system_id: int | None = None,
    actor="system:receipt_parse",
) -> list[Evidence]:
    """Write the evidence a parser found in `receipt`; one ledger entry per evidence item.

    The primary subject is what the uploader named (`given_subject`), else the parser's first
    subject. Must run inside the transaction that marks the receipt parsed.
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
    if given_subject is not None:
        everything.append(given_subject)
    ids = artifacts_ensure(everything, system_id=system_id, now=now)

    written = []
    for ordinal, facts in enumerate(facts_list):
        subjects = list(dict.fromkeys(s.uri for s in facts.subjects))
        primary = given_subject.uri if given_subject is not None else (subjects[0] if subjects else None)
        if given_effective_at is not None:
            effective_at, basis = given_effective_at, EffectiveBasis.UPLOAD
        elif facts.effective_at is not None:
            effective_at, basis = facts.effective_at, EffectiveBasis.CONTENT
        else:
            effective_at, basis = receipt.received_at, EffectiveBasis.RECEIVED
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
            summary=json_clean(facts.summary),
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
        edges = _insert_edges(
            [(ids[e.source.uri], ids[e.target.uri], e.relation) for e in facts.edges if e.source.uri != e.target.uri],
            evidence_id=evidence.pk,
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
    return written
