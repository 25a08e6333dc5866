"""in-toto attestations: Statements v0.1/v1, DSSE envelopes, Sigstore bundles, SLSA provenance.

Signatures are only counted here; verifying them needs keys and trust roots and is
not a parser's job. Verdict is always "info": provenance describes how something
was built, and whether an unsigned attestation is acceptable is a policy decision.
The verdict reason says "signed (N signatures, not verified here)", "unsigned: the
DSSE envelope has no signatures" or "unsigned: bare statement without an envelope".
A file of JSON Lines (one attestation per line, as slsa-github-generator's
`.intoto.jsonl`) gives one evidence item per line.
"""

from __future__ import annotations

import base64
import binascii
import json

from .base import (
    MAX_LIST,
    Edge,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    arr,
    guard,
    iso,
    json_type,
    load_json,
    obj,
    parse_datetime,
    text,
)
from .subjects import (
    commit_subject,
    file_subject,
    image_subject,
    is_sha,
    looks_like_image_ref,
    normalize_subject,
    purl_subject,
)

LABEL = "in-toto"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_DIGEST_ORDER = ("sha256", "sha512", "sha384", "sha1")


def _digest(digests: dict, where: str) -> str:
    """The strongest 'algo:hex' digest of a ResourceDescriptor, '' if none usable."""
    for algo in _DIGEST_ORDER:
        value = digests.get(algo)
        if isinstance(value, str) and value:
            return f"{algo}:{value.strip().lower()}"
    return ""


def _subject_of(entry: dict, where: str) -> Subject:
    name = text(entry.get("name"), 1000) or text(entry.get("uri"), 1000)
    digests = obj(entry.get("digest"), f"{where}.digest", LABEL)
    git_sha = digests.get("gitCommit") or digests.get("sha1")
    if isinstance(git_sha, str) and is_sha(git_sha) and (name.startswith("git+") or name.startswith("https://")):
        repo = name[4:] if name.startswith("git+") else name
        repo = repo.rsplit("@", 1)[0] if "@" in repo.split("://", 1)[-1] else repo
        try:
            return commit_subject(repo, git_sha)
        except ParseError:
            pass
    digest = _digest(digests, where)
    try:
        if name.startswith("pkg:"):
            subject = purl_subject(name)
            if (
                subject.kind == "package"
                and digest.startswith("sha256:")
                and subject.uri.startswith(("pkg:docker/", "pkg:oci/"))
            ):
                # A container base image pinned by digest is an image, whatever its tag.
                return image_subject(subject.name.rsplit("@", 1)[0], digest)
            return Subject(kind=subject.kind, uri=subject.uri, digest=subject.digest or digest, name=subject.name)
        if digest.startswith("sha256:") and looks_like_image_ref(name):
            return image_subject(name, digest)
        if digest:
            return file_subject(name, digest)
        if name:
            return normalize_subject(name)
    except ParseError as exc:
        raise ParseError(f"{LABEL}: {where}: {exc}") from None
    raise ParseError(f"{LABEL}: {where} has neither a name nor a digest")


def _decode_payload(envelope: dict, where: str) -> tuple[dict, str]:
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise ParseError(f"{LABEL}: {where}.payloadType is missing")
    payload = envelope.get("payload")
    if not isinstance(payload, str):
        raise ParseError(f"{LABEL}: {where}.payload must be a base64 string")
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise ParseError(
            f"{LABEL}: {where}.payloadType is {text(payload_type, 100)!r}, expected {INTOTO_PAYLOAD_TYPE!r}"
        )
    cleaned = payload.strip()
    try:
        if "-" in cleaned or "_" in cleaned:
            raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        else:
            raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"{LABEL}: {where}.payload is not valid base64") from None
    statement = load_json(raw, f"{LABEL} payload")
    if not isinstance(statement, dict):
        raise ParseError(f"{LABEL}: {where}.payload must decode to a JSON object, got {json_type(statement)}")
    return statement, payload_type


def _unwrap(doc: dict, where: str) -> tuple[dict, dict]:
    """(statement, envelope facts) for a Statement, DSSE envelope or Sigstore bundle."""
    if "dsseEnvelope" in doc:  # Sigstore bundle
        envelope = obj(doc["dsseEnvelope"], f"{where}.dsseEnvelope", LABEL, required=True)
        facts = {"container": "sigstore-bundle", "bundle_media_type": text(doc.get("mediaType"), 200)}
        where = f"{where}.dsseEnvelope"
    elif "payloadType" in doc or "payload" in doc:
        envelope, facts = doc, {"container": "dsse"}
    elif "_type" in doc:
        return doc, {"container": "statement", "signed": False, "signature_count": 0, "keyids": []}
    else:
        raise ParseError(
            f"{LABEL}: {where} is neither an in-toto Statement (_type), a DSSE envelope "
            "(payloadType, payload, signatures) nor a Sigstore bundle (dsseEnvelope)"
        )
    statement, payload_type = _decode_payload(envelope, where)
    signatures = [
        s
        for s in arr(envelope.get("signatures"), f"{where}.signatures", LABEL)
        if isinstance(s, dict) and isinstance(s.get("sig"), str) and s["sig"].strip()
    ]
    facts.update(
        payload_type=payload_type,
        signed=bool(signatures),
        signature_count=len(signatures),
        keyids=[text(s.get("keyid"), 200) for s in signatures if s.get("keyid")][:MAX_LIST],
    )
    return statement, facts


def _materials(predicate_type: str, predicate: dict) -> tuple[list[dict], dict]:
    """SLSA materials and build facts for provenance v0.1/v0.2 and v1."""
    if predicate_type.startswith("https://slsa.dev/provenance/v1"):
        build = obj(predicate.get("buildDefinition"), "predicate.buildDefinition", LABEL)
        run = obj(predicate.get("runDetails"), "predicate.runDetails", LABEL)
        builder = obj(run.get("builder"), "predicate.runDetails.builder", LABEL)
        meta = obj(run.get("metadata"), "predicate.runDetails.metadata", LABEL)
        items = arr(build.get("resolvedDependencies"), "predicate.buildDefinition.resolvedDependencies", LABEL)
        facts = {
            "builder_id": text(builder.get("id"), 500),
            "build_type": text(build.get("buildType"), 500),
            "invocation_id": text(meta.get("invocationId"), 500),
            "started_on": meta.get("startedOn"),
            "finished_on": meta.get("finishedOn"),
        }
        return [(m, f"predicate.buildDefinition.resolvedDependencies[{i}]") for i, m in enumerate(items)], facts
    builder = obj(predicate.get("builder"), "predicate.builder", LABEL)
    meta = obj(predicate.get("metadata"), "predicate.metadata", LABEL)
    invocation = obj(predicate.get("invocation"), "predicate.invocation", LABEL)
    items = [
        (m, f"predicate.materials[{i}]")
        for i, m in enumerate(arr(predicate.get("materials"), "predicate.materials", LABEL))
    ]
    config = invocation.get("configSource")
    if isinstance(config, dict) and config.get("uri"):
        items.append((config, "predicate.invocation.configSource"))
    facts = {
        "builder_id": text(builder.get("id"), 500),
        "build_type": text(predicate.get("buildType"), 500),
        "invocation_id": text(meta.get("buildInvocationID") or meta.get("buildInvocationId"), 500),
        "started_on": meta.get("buildStartedOn"),
        "finished_on": meta.get("buildFinishedOn"),
    }
    return items, facts


def _evidence_for(doc, where: str) -> EvidenceFacts:
    if not isinstance(doc, dict):
        raise ParseError(f"{LABEL}: {where} must be a JSON object, got {json_type(doc)}")
    statement, envelope = _unwrap(doc, where)
    statement_type = statement.get("_type")
    if statement_type not in STATEMENT_TYPES:
        raise ParseError(
            f"{LABEL}: _type is {text(statement_type, 100)!r}; expected one of {', '.join(STATEMENT_TYPES)}"
        )
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise ParseError(f"{LABEL}: predicateType is missing")
    entries = arr(statement.get("subject"), "subject", LABEL, required=True)
    if not entries:
        raise ParseError(f"{LABEL}: subject is empty; a statement must name at least one artifact")
    subjects: list[Subject] = []
    for index, entry in enumerate(entries):
        subject = _subject_of(obj(entry, f"subject[{index}]", LABEL, required=True), f"subject[{index}]")
        if subject not in subjects:
            subjects.append(subject)
    predicate = obj(statement.get("predicate"), "predicate", LABEL)

    is_provenance = predicate_type.startswith(("https://slsa.dev/provenance/", "https://in-toto.io/Provenance/"))
    materials: list[Subject] = []
    facts = {"builder_id": "", "build_type": "", "invocation_id": "", "started_on": None, "finished_on": None}
    if is_provenance:
        items, facts = _materials(predicate_type, predicate)
        for material, mwhere in items:
            material = obj(material, mwhere, LABEL, required=True)
            subject = _subject_of(material, mwhere)
            if subject not in materials:
                materials.append(subject)
    edges = [Edge(source=m, target=s, relation="built-from") for m in materials for s in subjects]

    finished, started = parse_datetime(facts["finished_on"]), parse_datetime(facts["started_on"])
    count = envelope["signature_count"]
    if envelope["signed"]:
        reason = f"signed ({count} signature{'s' if count != 1 else ''}, not verified here)"
    elif envelope["container"] == "statement":
        reason = "unsigned: bare statement without an envelope"
    else:
        reason = "unsigned: the DSSE envelope has no signatures"
    first = subjects[0].name or subjects[0].uri
    more = f" (+{len(subjects) - 1} more)" if len(subjects) > 1 else ""
    if is_provenance:
        version = predicate_type.rstrip("/").rsplit("/", 1)[-1]
        title = f"Provenance (SLSA {version}) for {text(first, 120)}{more}"
        if facts["builder_id"]:
            title += f", built by {text(facts['builder_id'], 120)}"
    else:
        title = f"Attestation {text(predicate_type, 120)} for {text(first, 120)}{more}"
    summary = {
        "statement_type": statement_type,
        "predicate_type": text(predicate_type, 500),
        "container": envelope["container"],
        "payload_type": envelope.get("payload_type", ""),
        "signed": envelope["signed"],
        "signature_count": count,
        "keyids": envelope["keyids"],
        "subjects_total": len(subjects),
        "subjects": [s.uri for s in subjects[:MAX_LIST]],
        "builder_id": facts["builder_id"],
        "build_type": facts["build_type"],
        "invocation_id": facts["invocation_id"],
        "started_on": iso(started),
        "finished_on": iso(finished),
        "materials_total": len(materials),
        "materials": [m.uri for m in materials[:MAX_LIST]],
    }
    return EvidenceFacts(
        kind="provenance" if is_provenance else "generic",
        title=title,
        verdict="info",
        verdict_reason=reason,
        effective_at=finished or started,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


@guard(LABEL)
def parse_intoto(body: bytes) -> ParseResult:
    """Subjects, builder, materials (as built-from edges) and signature presence."""
    try:
        docs = [(load_json(body, LABEL), "the document")]
    except ParseError as whole_error:
        lines = [line for line in bytes(body).splitlines() if line.strip()]
        if len(lines) < 2:
            raise whole_error from None
        docs = []
        for number_, line in enumerate(lines, start=1):
            try:
                docs.append((json.loads(line), f"line {number_}"))
            except (ValueError, RecursionError):
                raise whole_error from None
    return ParseResult(format="intoto", evidence=[_evidence_for(doc, where) for doc, where in docs])
