"""SPDX 2.x JSON documents."""

from __future__ import annotations

from collections import Counter

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
    load_json_object,
    obj,
    parse_datetime,
    plural,
    text,
)
from .cyclonedx import component_subject
from .subjects import file_subject

LABEL = "SPDX"
NO_LICENSE = ("", "NOASSERTION", "NONE")


def _checksum(checksums, algorithm: str) -> str:
    for item in checksums if isinstance(checksums, list) else []:
        if isinstance(item, dict) and str(item.get("algorithm", "")).upper().replace("-", "") == algorithm:
            value = item.get("checksumValue")
            if isinstance(value, str):
                return value.strip().lower()
    return ""


def _element_subject(element: dict, cache: dict) -> Subject | None:
    """Files are known by their SHA-256 (else SHA-1); everything else like a package."""
    if "fileName" in element:
        for algo in ("SHA256", "SHA1"):
            value = _checksum(element.get("checksums"), algo)
            if value:
                try:
                    return file_subject(text(element.get("fileName"), 300), f"{algo.lower()}:{value}")
                except ParseError:
                    return None
        return None
    purl = ""
    refs = element.get("externalRefs")
    for ref in refs if isinstance(refs, list) else []:
        if (
            isinstance(ref, dict)
            and ref.get("referenceType") == "purl"
            and isinstance(ref.get("referenceLocator"), str)
        ):
            purl = ref["referenceLocator"]
            break
    return component_subject(text(element.get("name"), 300), text(element.get("versionInfo"), 200), purl, cache)


@guard(LABEL)
def parse_spdx(body: bytes) -> ParseResult:
    """Packages as records and relationships as edges.

    DEPENDS_ON / DEPENDENCY_OF become "depends-on" edges from the dependency to the
    dependent; DESCRIBES (and documentDescribes) become "describes" edges from the
    document to the package, and those packages are the evidence subjects. Every other
    relationship keeps the document's direction and its type in kebab case.
    """
    doc = load_json_object(body, LABEL)
    version = doc.get("spdxVersion")
    if not isinstance(version, str) or not version.startswith("SPDX-2."):
        raise ParseError(f"{LABEL}: spdxVersion is {text(version, 40)!r}; expected SPDX-2.x (e.g. 'SPDX-2.3')")
    creation = obj(doc.get("creationInfo"), "creationInfo", LABEL)
    namespace = text(doc.get("documentNamespace"), 1000)
    doc_id = text(doc.get("SPDXID"), 200) or "SPDXRef-DOCUMENT"
    doc_name = text(doc.get("name"), 300) or "SPDX document"
    document = Subject(kind="other", uri=namespace or f"spdx:{doc_name}", name=doc_name)

    cache: dict = {}
    elements: dict[str, Subject] = {doc_id: document}
    rows = []
    for index, package in enumerate(arr(doc.get("packages"), "packages", LABEL)):
        package = obj(package, f"packages[{index}]", LABEL, required=True)
        subject = _element_subject(package, cache)
        spdx_id = package.get("SPDXID")
        if subject and isinstance(spdx_id, str):
            elements[spdx_id] = subject
        concluded = text(package.get("licenseConcluded"), 300)
        declared = text(package.get("licenseDeclared"), 300)
        rows.append(
            {
                "spdx_id": text(spdx_id, 300),
                "name": text(package.get("name"), 300),
                "version": text(package.get("versionInfo"), 200),
                "purl": subject.uri
                if subject and subject.uri.startswith("pkg:") and not subject.uri.startswith("pkg:generic/")
                else "",
                "license": concluded if concluded not in NO_LICENSE else declared,
                "license_declared": declared,
                "supplier": text(package.get("supplier"), 300),
                "sha256": _checksum(package.get("checksums"), "SHA256"),
            }
        )
    for index, file in enumerate(arr(doc.get("files"), "files", LABEL)):
        file = obj(file, f"files[{index}]", LABEL, required=True)
        subject = _element_subject(dict(file, fileName=file.get("fileName", "")), cache)
        if subject and isinstance(file.get("SPDXID"), str):
            elements[file["SPDXID"]] = subject

    relationships = []
    for index, rel in enumerate(arr(doc.get("relationships"), "relationships", LABEL)):
        rel = obj(rel, f"relationships[{index}]", LABEL, required=True)
        relationships.append(
            (rel.get("spdxElementId"), text(rel.get("relationshipType"), 60), rel.get("relatedSpdxElement"))
        )
    for described in arr(doc.get("documentDescribes"), "documentDescribes", LABEL):
        relationships.append((doc_id, "DESCRIBES", described))

    edges, described_subjects = [], []
    rel_types: Counter = Counter()
    unresolved = 0
    seen = set()
    for element_id, rel_type, related_id in relationships:
        rel_types[rel_type] += 1
        element = elements.get(element_id) if isinstance(element_id, str) else None
        related = elements.get(related_id) if isinstance(related_id, str) else None
        if element is None or related is None:
            unresolved += 1
            continue
        if rel_type == "DEPENDS_ON":
            edge = Edge(source=related, target=element, relation="depends-on")
        elif rel_type == "DEPENDENCY_OF":
            edge = Edge(source=element, target=related, relation="depends-on")
        elif rel_type == "DESCRIBES":
            edge = Edge(source=element, target=related, relation="describes")
        elif rel_type == "DESCRIBED_BY":
            edge = Edge(source=related, target=element, relation="describes")
        else:
            edge = Edge(source=element, target=related, relation=rel_type.lower().replace("_", "-") or "related")
        if edge.relation == "describes" and edge.source is document and edge.target not in described_subjects:
            described_subjects.append(edge.target)
        key = (edge.source.uri, edge.target.uri, edge.relation)
        if key not in seen:
            seen.add(key)
            edges.append(edge)

    effective_at = parse_datetime(creation.get("created"))
    licenses = Counter(row["license"] for row in rows if row["license"] not in NO_LICENSE)
    creators = [text(c, 200) for c in arr(creation.get("creators"), "creationInfo.creators", LABEL)][:MAX_LIST]
    main_name = described_subjects[0].name if described_subjects else doc_name
    summary = {
        "spdx_version": version,
        "document_name": doc_name,
        "document_namespace": namespace,
        "created": iso(effective_at),
        "creators": creators,
        "described": [s.uri for s in described_subjects[:MAX_LIST]],
        "packages_total": len(rows),
        "packages": [f"{r['name']}@{r['version']}" if r["version"] else r["name"] for r in rows[:MAX_LIST]],
        "licenses": dict(licenses.most_common(MAX_LIST)),
        "packages_without_license": sum(1 for r in rows if r["license"] in NO_LICENSE),
        "relationships": dict(rel_types.most_common(MAX_LIST)),
        "edges": len(edges),
        "unresolved_relationships": unresolved,
    }
    title = f"SBOM (SPDX {version[5:]}): {text(main_name, 120)}, {plural(len(rows), 'package')}"
    evidence = EvidenceFacts(
        kind="sbom",
        title=title,
        verdict="info",
        verdict_reason=f"inventory of {plural(len(rows), 'package')}",
        effective_at=effective_at,
        subjects=described_subjects,
        summary=summary,
        edges=edges,
        records=rows,
    )
    return ParseResult(format="spdx", evidence=[evidence])
