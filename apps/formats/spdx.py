"""SPDX 2.x documents, in JSON or in the tag-value form (`Tag: value` lines, SPDX 2.3 annex).

A tag-value document is read into the same shape as the JSON form (only the fields
this parser uses), so both give the same facts. The SPDX project's own parser
(spdx-tools) is not used: it refuses real-world output such as sbom4python's over
fields the portal does not read (a LicenseListVersion of "3.28.0").
"""

from __future__ import annotations

import re
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
MAX_TAG_LINES = 2_000_000
_TAG_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9]*):\s?(.*)$")
# Tags that start a new element, and the JSON list the element goes to.
_ELEMENT_STARTS = {"PackageName": "packages", "FileName": "files", "SnippetSPDXID": "snippets",
                   "LicenseID": "hasExtractedLicensingInfos"}  # fmt: skip
_PACKAGE_TAGS = {"PackageName": "name", "SPDXID": "SPDXID", "PackageVersion": "versionInfo",
                 "PackageLicenseConcluded": "licenseConcluded", "PackageLicenseDeclared": "licenseDeclared",
                 "PackageSupplier": "supplier"}  # fmt: skip
_FILE_TAGS = {"FileName": "fileName", "SPDXID": "SPDXID"}
_DOCUMENT_TAGS = {"SPDXVersion": "spdxVersion", "SPDXID": "SPDXID", "DocumentName": "name",
                  "DocumentNamespace": "documentNamespace"}  # fmt: skip


def _checksum_value(value: str) -> dict | None:
    algorithm, _, digest = value.partition(":")
    return {"algorithm": algorithm.strip(), "checksumValue": digest.strip()} if digest.strip() else None


def _text_value(lines: list[str], index: int, tag: str, value: str) -> tuple[str, int]:
    """(value, index of the next line): a `<text>` value runs until `</text>`, possibly over several lines."""
    if not value.startswith("<text>"):
        return value, index
    parts = [value[len("<text>") :]]
    while "</text>" not in parts[-1]:
        if index >= len(lines):
            raise ParseError(f"{LABEL}: <text> opened for {tag} is never closed")
        parts.append(lines[index])
        index += 1
    return "\n".join(parts).split("</text>", 1)[0].strip(), index


def _header_tag(doc: dict, tag: str, value: str) -> None:
    if tag in _DOCUMENT_TAGS:
        doc.setdefault(_DOCUMENT_TAGS[tag], value)
    elif tag == "Creator":
        doc["creationInfo"]["creators"].append(value)
    elif tag == "Created":
        doc["creationInfo"]["created"] = value


def _package_tag(element: dict, tag: str, value: str) -> None:
    if tag in _PACKAGE_TAGS:
        element.setdefault(_PACKAGE_TAGS[tag], value)
    elif tag == "PackageChecksum" and _checksum_value(value):
        element.setdefault("checksums", []).append(_checksum_value(value))
    elif tag == "ExternalRef":
        words = value.split(None, 2)
        if len(words) == 3:
            element.setdefault("externalRefs", []).append(
                {"referenceCategory": words[0], "referenceType": words[1], "referenceLocator": words[2]}
            )


def _file_tag(element: dict, tag: str, value: str) -> None:
    if tag in _FILE_TAGS:
        element.setdefault(_FILE_TAGS[tag], value)
    elif tag == "FileChecksum" and _checksum_value(value):
        element.setdefault("checksums", []).append(_checksum_value(value))


def _apply_tag(doc: dict, element: dict | None, tag: str, value: str) -> None:
    """Put one tag into the document, or into the package or file being read."""
    if tag == "Relationship":
        words = value.split()
        if len(words) >= 3:
            doc["relationships"].append(
                {"spdxElementId": words[0], "relationshipType": words[1], "relatedSpdxElement": words[2]}
            )
    elif element is None:
        _header_tag(doc, tag, value)
    elif element["_list"] == "packages":
        _package_tag(element, tag, value)
    elif element["_list"] == "files":
        _file_tag(element, tag, value)


def _tag_value_document(body: bytes) -> dict:
    """The JSON-shaped dict of a tag-value document; ParseError when it is not one."""
    try:
        content = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"{LABEL}: the file is neither JSON nor UTF-8 tag-value text") from None
    doc: dict = {"creationInfo": {"creators": []}, "packages": [], "files": [], "relationships": []}
    element: dict | None = None  # the package or file being read; None while in the document header
    lines = content.splitlines()
    if len(lines) > MAX_TAG_LINES:
        raise ParseError(f"{LABEL}: more than {MAX_TAG_LINES} lines")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _TAG_LINE.match(line)
        if not match:
            raise ParseError(f"{LABEL}: line {index} is not 'Tag: value': {text(line, 80)!r}")
        tag = match.group(1)
        value, index = _text_value(lines, index, tag, match.group(2).strip())
        if tag in _ELEMENT_STARTS:
            element = {"_list": _ELEMENT_STARTS[tag]}
            doc.setdefault(element["_list"], []).append(element)
        _apply_tag(doc, element, tag, value)
    if "spdxVersion" not in doc:
        raise ParseError(f"{LABEL}: no SPDXVersion line; expected an SPDX 2.x JSON or tag-value document")
    for name in ("packages", "files"):
        for item in doc[name]:
            item.pop("_list", None)
    return doc


def _load(body: bytes) -> tuple[dict, str]:
    """(document as a JSON-shaped dict, "json" or "tag-value")."""
    head = bytes(body[:1024]).lstrip(b"\xef\xbb\xbf \t\r\n") if isinstance(body, (bytes, bytearray)) else b"{"
    if head[:1] in (b"{", b"[") or not head:
        return load_json_object(body, LABEL), "json"
    return _tag_value_document(body), "tag-value"


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


def _package_row(package: dict, subject: Subject | None) -> dict:
    spdx_id = package.get("SPDXID")
    concluded = text(package.get("licenseConcluded"), 300)
    declared = text(package.get("licenseDeclared"), 300)
    return {
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


def _read_elements(doc: dict, elements: dict[str, Subject]) -> tuple[list[dict], list[Subject]]:
    """(package rows, package subjects); registers each package and file subject in `elements` by SPDXID."""
    cache: dict = {}
    rows = []
    packages: list[Subject] = []
    for index, package in enumerate(arr(doc.get("packages"), "packages", LABEL)):
        package = obj(package, f"packages[{index}]", LABEL, required=True)
        subject = _element_subject(package, cache)
        if subject is not None:
            packages.append(subject)
        spdx_id = package.get("SPDXID")
        if subject and isinstance(spdx_id, str):
            elements[spdx_id] = subject
        rows.append(_package_row(package, subject))
    for index, file in enumerate(arr(doc.get("files"), "files", LABEL)):
        file = obj(file, f"files[{index}]", LABEL, required=True)
        subject = _element_subject(dict(file, fileName=file.get("fileName", "")), cache)
        if subject and isinstance(file.get("SPDXID"), str):
            elements[file["SPDXID"]] = subject
    return rows, packages


def _relationships(doc: dict, doc_id: str) -> list[tuple]:
    """(element id, relationship type, related id) of `relationships`, then of `documentDescribes`."""
    relationships = []
    for index, rel in enumerate(arr(doc.get("relationships"), "relationships", LABEL)):
        rel = obj(rel, f"relationships[{index}]", LABEL, required=True)
        relationships.append(
            (rel.get("spdxElementId"), text(rel.get("relationshipType"), 60), rel.get("relatedSpdxElement"))
        )
    for described in arr(doc.get("documentDescribes"), "documentDescribes", LABEL):
        relationships.append((doc_id, "DESCRIBES", described))
    return relationships


def _edge(element: Subject, rel_type: str, related: Subject) -> Edge:
    if rel_type == "DEPENDS_ON":
        return Edge(source=related, target=element, relation="depends-on")
    if rel_type == "DEPENDENCY_OF":
        return Edge(source=element, target=related, relation="depends-on")
    if rel_type == "DESCRIBES":
        return Edge(source=element, target=related, relation="describes")
    if rel_type == "DESCRIBED_BY":
        return Edge(source=related, target=element, relation="describes")
    return Edge(source=element, target=related, relation=rel_type.lower().replace("_", "-") or "related")


def _edges(
    relationships: list[tuple], elements: dict[str, Subject], document: Subject
) -> tuple[list[Edge], list[Subject], Counter, int]:
    """(distinct edges, subjects the document describes, relationship types counted, unresolved count)."""
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
        edge = _edge(element, rel_type, related)
        if edge.relation == "describes" and edge.source is document and edge.target not in described_subjects:
            described_subjects.append(edge.target)
        key = (edge.source.uri, edge.target.uri, edge.relation)
        if key not in seen:
            seen.add(key)
            edges.append(edge)
    return edges, described_subjects, rel_types, unresolved


@guard(LABEL)
def parse_spdx(body: bytes) -> ParseResult:
    """Packages as records and relationships as edges.

    DEPENDS_ON / DEPENDENCY_OF become "depends-on" edges from the dependency to the
    dependent; DESCRIBES (and documentDescribes) become "describes" edges from the
    document to the package, and those packages are the evidence subjects. Every other
    relationship keeps the document's direction and its type in kebab case. Every other package
    is in `contents`: evidence_record() draws it -contains-> the document's subject.
    """
    doc, form = _load(body)
    version = doc.get("spdxVersion")
    if not isinstance(version, str) or not version.startswith("SPDX-2."):
        raise ParseError(f"{LABEL}: spdxVersion is {text(version, 40)!r}; expected SPDX-2.x (e.g. 'SPDX-2.3')")
    creation = obj(doc.get("creationInfo"), "creationInfo", LABEL)
    namespace = text(doc.get("documentNamespace"), 1000)
    doc_id = text(doc.get("SPDXID"), 200) or "SPDXRef-DOCUMENT"
    doc_name = text(doc.get("name"), 300) or "SPDX document"
    document = Subject(kind="other", uri=namespace or f"spdx:{doc_name}", name=doc_name)

    elements: dict[str, Subject] = {doc_id: document}
    rows, packages = _read_elements(doc, elements)
    edges, described_subjects, rel_types, unresolved = _edges(_relationships(doc, doc_id), elements, document)
    # Every package but the described ones is part of what the document describes (issue 20).
    described_uris = {s.uri for s in described_subjects}
    contents = [s for s in dict.fromkeys(packages) if s.uri not in described_uris]
    effective_at = parse_datetime(creation.get("created"))
    licenses = Counter(row["license"] for row in rows if row["license"] not in NO_LICENSE)
    creators = [text(c, 200) for c in arr(creation.get("creators"), "creationInfo.creators", LABEL)][:MAX_LIST]
    main_name = described_subjects[0].name if described_subjects else doc_name
    summary = {
        "spdx_version": version,
        "format": form,
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
        contents=contents,
    )
    return ParseResult(format="spdx", evidence=[evidence])
