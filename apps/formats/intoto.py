"""in-toto attestations and provenance: Statements v0.1/v1, DSSE envelopes, Sigstore bundles,
PyPI attestations (single or a PyPI provenance file), in-toto link files, SLSA provenance.

Signatures are not checked here: a parser has no keys. Each attestation carries the
material a check needs (`EvidenceFacts.verification`) and says `verified: false` with
a reason; `apps.ingest.trust` checks it against the keys and Sigstore identities the
portal trusts before the evidence is recorded, and only that check sets `verified`,
`signer` and the builder (`builder_id`; the statement's own claim is `claimed_builder_id`).
Verdict is always "info": whether unverified provenance is acceptable is a policy decision.
A file of JSON Lines (one attestation per line, as slsa-github-generator's
`.intoto.jsonl`) gives one evidence item per line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

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
    file_subject,
    image_subject,
    is_sha,
    looks_like_image_ref,
    normalize_subject,
    purl_subject,
    source_commit,
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
        commit = source_commit(repo, git_sha)
        if commit:
            return commit
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


def _signatures(envelope: dict, where: str) -> list[dict]:
    return [
        {"keyid": text(sig.get("keyid"), 200), "sig": sig["sig"]}
        for sig in arr(envelope.get("signatures"), f"{where}.signatures", LABEL)
        if isinstance(sig, dict) and isinstance(sig.get("sig"), str) and sig["sig"].strip()
    ]


def _raw_payload(envelope: dict) -> bytes:
    cleaned = envelope["payload"].strip()
    if "-" in cleaned or "_" in cleaned:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)


def _pypi_statement(doc: dict, where: str) -> tuple[dict, bytes]:
    """The in-toto statement of a PyPI attestation (PEP 740): envelope.statement, base64."""
    envelope = obj(doc.get("envelope"), f"{where}.envelope", LABEL, required=True)
    encoded = envelope.get("statement")
    if not isinstance(encoded, str):
        raise ParseError(f"{LABEL}: {where}.envelope.statement must be a base64 string")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"{LABEL}: {where}.envelope.statement is not valid base64") from None
    statement = load_json(raw, f"{LABEL} statement")
    if not isinstance(statement, dict):
        raise ParseError(f"{LABEL}: {where}.envelope.statement must decode to a JSON object")
    return statement, raw


def _unwrap(doc: dict, where: str) -> tuple[dict, dict, dict | None]:
    """(statement, envelope facts, verification material) for every container we read."""
    if "dsseEnvelope" in doc:  # Sigstore bundle (cosign --new-bundle-format, GitHub attestations)
        envelope = obj(doc["dsseEnvelope"], f"{where}.dsseEnvelope", LABEL, required=True)
        facts = {"container": "sigstore-bundle", "bundle_media_type": text(doc.get("mediaType"), 200)}
        where = f"{where}.dsseEnvelope"
        material = {"type": "sigstore-bundle", "bundle": doc}
    elif isinstance(doc.get("envelope"), dict) and "verification_material" in doc:  # PyPI attestation
        statement, raw = _pypi_statement(doc, where)
        signed = bool(text(doc["envelope"].get("signature")))
        facts = {
            "container": "pypi-attestation",
            "payload_type": INTOTO_PAYLOAD_TYPE,
            "signed": signed,
            "signature_count": int(signed),
            "keyids": [],
        }
        material = None
        if signed:
            material = {"type": "pypi-attestation", "attestation": doc, "payload_type": INTOTO_PAYLOAD_TYPE}
            material["payload"] = raw
        return statement, facts, material
    elif isinstance(doc.get("signed"), dict) and doc["signed"].get("_type") == "link":  # classic in-toto link
        signatures = _signatures(doc, where)
        facts = {
            "container": "link",
            "payload_type": "",
            "signed": bool(signatures),
            "signature_count": len(signatures),
            "keyids": [s["keyid"] for s in signatures if s["keyid"]][:MAX_LIST],
        }
        material = {"type": "link", "signed": doc["signed"], "signatures": signatures} if signatures else None
        return doc["signed"], facts, material
    elif "payloadType" in doc or "payload" in doc:
        envelope, facts = doc, {"container": "dsse"}
        material = {"type": "dsse"}
    elif "_type" in doc:
        return doc, {"container": "statement", "signed": False, "signature_count": 0, "keyids": []}, None
    else:
        raise ParseError(
            f"{LABEL}: {where} is neither an in-toto Statement (_type), a DSSE envelope "
            "(payloadType, payload, signatures), a Sigstore bundle (dsseEnvelope), a PyPI attestation "
            "(envelope, verification_material) nor an in-toto link (signed, signatures)"
        )
    statement, payload_type = _decode_payload(envelope, where)
    signatures = _signatures(envelope, where)
    facts.update(
        payload_type=payload_type,
        signed=bool(signatures),
        signature_count=len(signatures),
        keyids=[s["keyid"] for s in signatures if s["keyid"]][:MAX_LIST],
    )
    if not signatures:
        return statement, facts, None
    # signatures too for bundles: one signed with a key (cosign --key) is checked as DSSE
    material.update(payload_type=payload_type, payload=_raw_payload(envelope), signatures=signatures)
    return statement, facts, material


def _link_facts(link: dict) -> tuple[list[Subject], list[Subject], dict]:
    """Products (subjects), materials and step facts of an in-toto link (classic or in a statement)."""

    def artifacts(field: str) -> list[Subject]:
        found: list[Subject] = []
        for path, digests in obj(link.get(field), field, LABEL).items():
            digest = _digest(obj(digests, f"{field}[{path!r}]", LABEL), field)
            if digest:
                subject = file_subject(text(path, 1000), digest)
                if subject not in found:
                    found.append(subject)
        return found

    command = link.get("command")
    facts = {
        "step_name": text(link.get("name"), 200),
        "command": " ".join(text(c, 200) for c in command)[:500] if isinstance(command, list) else text(command),
    }
    return artifacts("products"), artifacts("materials"), facts


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


PYPI_PUBLISH = "https://docs.pypi.org/attestations/publish/"
# Format detection (detect.py) looks for these in a document's head: a PyPI attestation or
# provenance file, an in-toto link (classic or in a statement).
DETECT_MARKERS = re.compile(
    rb'"(verification_material|attestation_bundles)"\s*:|"_type"\s*:\s*"link"'
    rb'|"predicateType"\s*:\s*"https://in-toto\.io/attestation/link/'
)
LINK_PREDICATE = "https://in-toto.io/attestation/link/"


def _statement_subjects(statement: dict) -> list[Subject]:
    entries = arr(statement.get("subject"), "subject", LABEL, required=True)
    if not entries:
        raise ParseError(f"{LABEL}: subject is empty; a statement must name at least one artifact")
    subjects: list[Subject] = []
    for index, entry in enumerate(entries):
        subject = _subject_of(obj(entry, f"subject[{index}]", LABEL, required=True), f"subject[{index}]")
        if subject not in subjects:
            subjects.append(subject)
    return subjects


def _predicate_facts(predicate_type: str, predicate: dict, facts: dict) -> tuple[list[Subject], dict, dict]:
    """(materials, link step, builder facts) of a SLSA provenance or an in-toto link predicate."""
    materials: list[Subject] = []
    step: dict = {}
    if predicate_type.startswith(("https://slsa.dev/provenance/", "https://in-toto.io/Provenance/")):
        items, facts = _materials(predicate_type, predicate)
        for material_entry, mwhere in items:
            subject = _subject_of(obj(material_entry, mwhere, LABEL, required=True), mwhere)
            if subject not in materials:
                materials.append(subject)
    elif predicate_type.startswith(LINK_PREDICATE):
        entries = arr(predicate.get("materials"), "predicate.materials", LABEL)
        link = {
            "name": predicate.get("name"),
            "command": predicate.get("command"),
            "materials": {text(m.get("name")): m.get("digest") or {} for m in entries if isinstance(m, dict)},
        }
        _products, materials, step = _link_facts(link)
    return materials, step, facts


def _statement_facts(statement: dict) -> tuple[str, list[Subject], list[Subject], dict, dict, bool]:
    """(predicate type, subjects, materials, link step, builder facts, is provenance) of a statement or link."""
    statement_type = statement.get("_type")
    facts = {"builder_id": "", "build_type": "", "invocation_id": "", "started_on": None, "finished_on": None}
    if statement_type == "link":  # a link (classic file, or the payload of a DSSE link)
        subjects, materials, step = _link_facts(statement)
        return "https://in-toto.io/Link/v0.9", subjects, materials, step, facts, True
    if statement_type not in STATEMENT_TYPES:
        raise ParseError(
            f"{LABEL}: _type is {text(statement_type, 100)!r}; expected one of {', '.join(STATEMENT_TYPES)}"
        )
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise ParseError(f"{LABEL}: predicateType is missing")
    subjects = _statement_subjects(statement)
    predicate = obj(statement.get("predicate"), "predicate", LABEL)
    is_provenance = predicate_type.startswith(
        ("https://slsa.dev/provenance/", "https://in-toto.io/Provenance/", PYPI_PUBLISH, LINK_PREDICATE)
    )
    materials, step, facts = _predicate_facts(predicate_type, predicate, facts)
    return predicate_type, subjects, materials, step, facts, is_provenance


def _unverified_reason(envelope: dict) -> str:
    count = envelope["signature_count"]
    if envelope["signed"]:
        return f"unverified: {count} signature{'s' if count != 1 else ''}, not checked yet"
    if envelope["container"] == "statement":
        return "unverified: bare statement without an envelope"
    return f"unverified: the {envelope['container']} has no signatures"


def _title(
    predicate_type: str, subjects: list[Subject], step: dict, facts: dict, *, is_link: bool, is_provenance: bool
) -> str:
    first = (subjects[0].name or subjects[0].uri) if subjects else step.get("step_name") or "a step"
    more = f" (+{len(subjects) - 1} more)" if len(subjects) > 1 else ""
    if is_link or predicate_type.startswith(LINK_PREDICATE):
        return f"in-toto link {text(step.get('step_name') or 'step', 80)} for {text(first, 120)}{more}"
    if predicate_type.startswith(PYPI_PUBLISH):
        return f"PyPI publish attestation for {text(first, 120)}{more}"
    if is_provenance:
        version = predicate_type.rstrip("/").rsplit("/", 1)[-1]
        title = f"Provenance (SLSA {version}) for {text(first, 120)}{more}"
        if facts["builder_id"]:
            title += f", naming builder {text(facts['builder_id'], 120)}"
        return title
    return f"Attestation {text(predicate_type, 120)} for {text(first, 120)}{more}"


def _evidence_for(doc, where: str) -> EvidenceFacts:
    if not isinstance(doc, dict):
        raise ParseError(f"{LABEL}: {where} must be a JSON object, got {json_type(doc)}")
    statement, envelope, material = _unwrap(doc, where)
    statement_type = statement.get("_type")
    predicate_type, subjects, materials, step, facts, is_provenance = _statement_facts(statement)
    edges = [Edge(source=m, target=s, relation="built-from") for m in materials for s in subjects]

    finished, started = parse_datetime(facts["finished_on"]), parse_datetime(facts["started_on"])
    reason = _unverified_reason(envelope)
    summary = {
        "statement_type": statement_type,
        "predicate_type": text(predicate_type, 500),
        "container": envelope["container"],
        "payload_type": envelope.get("payload_type", ""),
        "signed": envelope["signed"],
        "signature_count": envelope["signature_count"],
        "keyids": envelope["keyids"],
        # Set by apps.ingest.trust after a signature check, never from the document.
        "verified": False,
        "signer": "",
        "reason": reason,
        "subjects_total": len(subjects),
        "subjects": [s.uri for s in subjects[:MAX_LIST]],
        # The builder counts only once the statement is verified; until then it is a claim.
        "builder_id": "",
        "claimed_builder_id": facts["builder_id"],
        "build_type": facts["build_type"],
        "invocation_id": facts["invocation_id"],
        "started_on": iso(started),
        "finished_on": iso(finished),
        "materials_total": len(materials),
        "materials": [m.uri for m in materials[:MAX_LIST]],
        **step,
    }
    if envelope.get("bundle_media_type"):
        summary["bundle_media_type"] = envelope["bundle_media_type"]
    return EvidenceFacts(
        kind="provenance" if is_provenance else "generic",
        title=_title(
            predicate_type, subjects, step, facts, is_link=statement_type == "link", is_provenance=is_provenance
        ),
        verdict="info",
        verdict_reason=reason,
        effective_at=finished or started,
        subjects=subjects,
        summary=summary,
        edges=edges,
        verification=material,
    )


def is_attestation(doc) -> bool:
    """Whether a parsed JSON document is one this module reads (format detection uses it)."""
    if not isinstance(doc, dict):
        return False
    if "payloadType" in doc or "dsseEnvelope" in doc:
        return True
    if str(doc.get("_type", "")).startswith("https://in-toto.io/Statement/"):
        return True
    if isinstance(doc.get("envelope"), dict) and "verification_material" in doc:
        return True  # PyPI attestation
    if isinstance(doc.get("attestation_bundles"), list):
        return True  # PyPI provenance file (the integrity API's answer)
    return isinstance(doc.get("signed"), dict) and doc["signed"].get("_type") == "link"


def _documents(doc, where: str) -> list[tuple[object, str]]:
    """A PyPI provenance file holds bundles of attestations; everything else is one document."""
    if isinstance(doc, dict) and isinstance(doc.get("attestation_bundles"), list):
        out = []
        for b, bundle in enumerate(doc["attestation_bundles"]):
            bundle = obj(bundle, f"attestation_bundles[{b}]", LABEL, required=True)
            for a, attestation in enumerate(arr(bundle.get("attestations"), f"attestation_bundles[{b}]", LABEL)):
                out.append((attestation, f"attestation_bundles[{b}].attestations[{a}]"))
        if not out:
            raise ParseError(f"{LABEL}: the PyPI provenance file holds no attestations")
        return out
    return [(doc, where)]


@guard(LABEL)
def parse_intoto(body: bytes) -> ParseResult:
    """Subjects, builder claim, materials (as built-from edges) and what a signature check needs."""
    try:
        docs = _documents(load_json(body, LABEL), "the document")
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
