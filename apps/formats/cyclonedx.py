"""CycloneDX SBOMs, JSON and XML, spec versions 1.2 to 1.6."""

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
from .subjects import purl_subject
from .xmlsafe import local_name, namespace, parse_xml

LABEL = "CycloneDX"


def component_subject(name: str, version: str, purl: str, cache: dict) -> Subject | None:
    """A component's identity: its purl, else pkg:generic/<name>@<version>."""
    key = (purl, name, version)
    if key in cache:
        return cache[key]
    subject = None
    if purl:
        try:
            subject = purl_subject(purl)
        except ParseError:
            subject = None
    if subject is None and name:
        generic = f"pkg:generic/{name}" + (f"@{version}" if version else "")
        try:
            subject = purl_subject(generic)
        except ParseError:
            subject = None
    cache[key] = subject
    return subject


def _licenses_json(value) -> list[str]:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("expression"), str):
            out.append(item["expression"])
        lic = item.get("license")
        if isinstance(lic, dict):
            name = lic.get("id") or lic.get("name")
            if isinstance(name, str):
                out.append(name)
    return out


def _hashes_json(value) -> dict:
    out = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("alg"), str) and isinstance(item.get("content"), str):
            out[item["alg"]] = item["content"][:256]
    return out


def _component_row(name, group, version, ctype, purl, bom_ref, licenses, hashes, scope) -> dict:
    return {
        "bom_ref": text(bom_ref, 500),
        "type": text(ctype, 50),
        "group": text(group, 200),
        "name": text(name, 300),
        "version": text(version, 200),
        "purl": text(purl, 2048),
        "licenses": [text(lic, 200) for lic in licenses[:20]],
        "hashes": hashes,
        "scope": text(scope, 20),
    }


def _read_json(doc: dict) -> tuple[dict, dict | None, list[dict], list[tuple[str, list[str]]], str]:
    if doc.get("bomFormat") != "CycloneDX":
        raise ParseError(f"{LABEL}: bomFormat is {text(doc.get('bomFormat'), 40)!r}, expected 'CycloneDX'")
    spec = text(doc.get("specVersion"), 20)
    meta = obj(doc.get("metadata"), "metadata", LABEL)
    head = {
        "spec_version": spec,
        "serial_number": text(doc.get("serialNumber"), 200),
        "timestamp": meta.get("timestamp"),
    }
    main = None
    main_raw = meta.get("component")
    if main_raw is not None:
        main_raw = obj(main_raw, "metadata.component", LABEL)
        main = _component_row(
            main_raw.get("name"),
            main_raw.get("group"),
            main_raw.get("version"),
            main_raw.get("type"),
            main_raw.get("purl"),
            main_raw.get("bom-ref"),
            _licenses_json(main_raw.get("licenses")),
            _hashes_json(main_raw.get("hashes")),
            "",
        )
    rows = []
    stack = [(arr(doc.get("components"), "components", LABEL), "components")]
    while stack:  # nested components without recursion
        items, where = stack.pop()
        for index, comp in enumerate(items):
            comp = obj(comp, f"{where}[{index}]", LABEL, required=True)
            rows.append(
                _component_row(
                    comp.get("name"),
                    comp.get("group"),
                    comp.get("version"),
                    comp.get("type"),
                    comp.get("purl"),
                    comp.get("bom-ref"),
                    _licenses_json(comp.get("licenses")),
                    _hashes_json(comp.get("hashes")),
                    comp.get("scope"),
                )
            )
            if comp.get("components") is not None:
                stack.append(
                    (arr(comp.get("components"), f"{where}[{index}].components", LABEL), f"{where}[{index}].components")
                )
    deps = []
    for index, dep in enumerate(arr(doc.get("dependencies"), "dependencies", LABEL)):
        dep = obj(dep, f"dependencies[{index}]", LABEL, required=True)
        ref = dep.get("ref")
        on = [d for d in arr(dep.get("dependsOn"), f"dependencies[{index}].dependsOn", LABEL) if isinstance(d, str)]
        if isinstance(ref, str):
            deps.append((ref, on))
    return head, main, rows, deps, spec


def _xml_child(element, name):
    for child in element:
        if local_name(child.tag) == name:
            return child
    return None


def _xml_text(element, name) -> str:
    child = _xml_child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _xml_component(comp) -> dict:
    licenses = []
    lic_root = _xml_child(comp, "licenses")
    if lic_root is not None:
        for item in lic_root:
            tag = local_name(item.tag)
            if tag == "expression":
                licenses.append((item.text or "").strip())
            elif tag == "license":
                licenses.append(_xml_text(item, "id") or _xml_text(item, "name"))
    hashes = {}
    hash_root = _xml_child(comp, "hashes")
    if hash_root is not None:
        for item in hash_root:
            if local_name(item.tag) == "hash" and item.get("alg"):
                hashes[item.get("alg")] = (item.text or "").strip()[:256]
    return _component_row(
        _xml_text(comp, "name"),
        _xml_text(comp, "group"),
        _xml_text(comp, "version"),
        comp.get("type"),
        _xml_text(comp, "purl"),
        comp.get("bom-ref"),
        [lic for lic in licenses if lic],
        hashes,
        _xml_text(comp, "scope"),
    )


def _read_xml(body: bytes):
    root = parse_xml(body, LABEL)
    ns = namespace(root.tag)
    if local_name(root.tag) != "bom" or not ns.startswith("http://cyclonedx.org/schema/bom/"):
        raise ParseError(
            f"{LABEL}: the root element is <{local_name(root.tag)}> in namespace {ns!r}, "
            "expected <bom> in http://cyclonedx.org/schema/bom/1.x"
        )
    spec = ns.rsplit("/", 1)[-1]
    head = {"spec_version": spec, "serial_number": root.get("serialNumber") or "", "timestamp": None}
    main = None
    meta = _xml_child(root, "metadata")
    if meta is not None:
        head["timestamp"] = _xml_text(meta, "timestamp")
        main_el = _xml_child(meta, "component")
        if main_el is not None:
            main = _xml_component(main_el)
    rows = []
    comps = _xml_child(root, "components")
    stack = [comps] if comps is not None else []
    while stack:
        container = stack.pop()
        for comp in container:
            if local_name(comp.tag) != "component":
                continue
            rows.append(_xml_component(comp))
            nested = _xml_child(comp, "components")
            if nested is not None:
                stack.append(nested)
    deps = []
    dep_root = _xml_child(root, "dependencies")
    if dep_root is not None:
        for dep in dep_root:
            if local_name(dep.tag) == "dependency" and dep.get("ref"):
                deps.append(
                    (dep.get("ref"), [d.get("ref") for d in dep if local_name(d.tag) == "dependency" and d.get("ref")])
                )
    return head, main, rows, deps, spec


@guard(LABEL)
def parse_cyclonedx(body: bytes) -> ParseResult:
    """Main component, all components as records, and the dependency graph as edges.

    A component without a purl is identified as pkg:generic/<name>@<version>.
    Dependency edges point from the dependency to the dependent ("depends-on"). Every component
    is in `contents`: evidence_record() draws it -contains-> the SBOM's subject.
    """
    start = bytes(body[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        head, main, rows, deps, spec = _read_xml(body)
    else:
        head, main, rows, deps, spec = _read_json(load_json_object(body, LABEL))

    cache: dict = {}
    by_ref: dict[str, Subject] = {}
    for row in rows + ([main] if main else []):
        subject = component_subject(row["name"], row["version"], row["purl"], cache)
        if subject and row["bom_ref"]:
            by_ref[row["bom_ref"]] = subject
    main_subject = component_subject(main["name"], main["version"], main["purl"], cache) if main else None

    edges = []
    unresolved = 0
    seen = set()
    for ref, depends_on in deps:
        dependent = by_ref.get(ref)
        for dep_ref in depends_on:
            dependency = by_ref.get(dep_ref)
            if dependent is None or dependency is None:
                unresolved += 1
                continue
            key = (dependency.uri, dependent.uri)
            if key not in seen:
                seen.add(key)
                edges.append(Edge(source=dependency, target=dependent, relation="depends-on"))

    # Every listed package is part of what the SBOM describes (issue 20): package -contains-> subject.
    contents = list(
        dict.fromkeys(
            s for s in (component_subject(r["name"], r["version"], r["purl"], cache) for r in rows) if s is not None
        )
    )
    contents = [s for s in contents if main_subject is None or s.uri != main_subject.uri]
    types = Counter(row["type"] or "unknown" for row in rows)
    licenses = Counter(lic for row in rows for lic in row["licenses"])
    without_license = sum(1 for row in rows if not row["licenses"])
    effective_at = parse_datetime(head["timestamp"])
    main_name = (
        f"{main['name']}@{main['version']}" if main and main["version"] else (main or {}).get("name", "")
    ) or "unnamed"
    summary = {
        "spec_version": spec,
        "serial_number": head["serial_number"],
        "timestamp": iso(effective_at),
        "main_component": main_subject.uri if main_subject else "",
        "main_component_name": main_name,
        "components_total": len(rows),
        "components": [f"{r['name']}@{r['version']}" if r["version"] else r["name"] for r in rows[:MAX_LIST]],
        "by_type": dict(types.most_common(MAX_LIST)),
        "licenses": dict(licenses.most_common(MAX_LIST)),
        "components_without_license": without_license,
        "dependency_edges": len(edges),
        "unresolved_dependency_refs": unresolved,
    }
    title = f"SBOM (CycloneDX {spec}): {main_name}, {plural(len(rows), 'component')}"
    evidence = EvidenceFacts(
        kind="sbom",
        title=title,
        verdict="info",
        verdict_reason=f"inventory of {plural(len(rows), 'component')}",
        effective_at=effective_at,
        subjects=[main_subject] if main_subject else [],
        summary=summary,
        edges=edges,
        records=rows,
        contents=contents,
    )
    return ParseResult(format="cyclonedx", evidence=[evidence])
