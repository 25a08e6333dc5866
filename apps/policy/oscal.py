"""NIST OSCAL in and out: catalogs become CatalogSpec, results become assessment-results.

Pure functions, no Django. The policy app's services turn a CatalogSpec into
Framework and Control rows and call `export_assessment_results()` with ControlResult
data; nothing here touches the database.

What is checked on the way in (`load_catalog`) and out (`validate_assessment_results`)
is the REQUIRED structure of the OSCAL 1.1.x JSON schema, written out by hand from it:
required keys, the token pattern for ids, UUID v4/v5 format, date-times with a time
zone, non-empty arrays where the schema says `minItems: 1`, and ids that are unique
within the document. It is not a full schema validator: the tests additionally check
every shipped catalog and every export against the official schema's generated models
(the `oscal-bindings` package) when that is installed.

Status mapping for findings (OSCAL knows only "satisfied" and "not-satisfied"):

    pass            -> satisfied
    fail            -> not-satisfied
    missing         -> not-satisfied   (no evidence is not compliance)
    excepted        -> not-satisfied   (risk accepted; the finding says so and links the exception)
    not-applicable  -> no finding; an observation records that the rule did not apply

Every finding and observation also carries the portal's own five-valued status as a
namespaced property, so nothing is lost on the way out.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

OSCAL_VERSION = "1.1.2"
PORTAL_NS = "urn:compliance-portal:oscal"  # namespace of our own props (an OSCAL "ns" must be a URI)
_UUID_NS = uuid.UUID("6f1c2a7e-3b4d-4e8f-9a0b-1c2d3e4f5a6b")  # fixed: the same input gives the same uuid

# The OSCAL "token" datatype (an XML NCName).
TOKEN_RE = re.compile(r"^[^\W\d](?:[\w.\-])*$", re.UNICODE)
# OSCAL UUIDs are RFC 4122 version 4 or 5.
UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[45][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$")
# OSCAL "date-time-with-timezone".
DATETIME_TZ_RE = re.compile(
    r"^(?:(?:2000|2400|2800|(?:19|2[0-9](?:0[48]|[2468][048]|[13579][26])))-02-29|"
    r"(?:(?:[0-9]{4})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|"
    r"02-(?:0[1-9]|1[0-9]|2[0-8]))))T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
STRING_RE = re.compile(r"^\S(?:.*\S)?$", re.DOTALL)  # OSCAL "string": non-empty, no edge whitespace

# A control reference: "<framework code>:<control id>" names one framework's control; a bare id
# names it in every loaded framework that has it (ids are unique per framework only).
REF_SEPARATOR = ":"  # in neither an OSCAL token nor a framework code (a slug)


def control_ref(framework_code: str, control_id: str) -> str:
    """The qualified reference of a control: "<framework code>:<control id>"."""
    return f"{framework_code}{REF_SEPARATOR}{control_id}"


def control_refs(catalogs) -> set[str]:
    """Every reference that names a control of these catalogs (bare ids and qualified ones)."""
    return {ref for code, spec in catalogs.items() for c in spec.controls for ref in (c.id, control_ref(code, c.id))}


STATUSES = ("pass", "fail", "missing", "excepted", "not-applicable")
_STATE = {"pass": "satisfied", "fail": "not-satisfied", "missing": "not-satisfied", "excepted": "not-satisfied"}
_REASON = {"pass": "pass", "fail": "fail", "missing": "other", "excepted": "other"}


class OscalError(ValueError):
    """An OSCAL document is not valid; the message names the path and what is wrong."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# --- catalogs in -------------------------------------------------------------------


@dataclass(frozen=True)
class ControlSpec:
    """One control of a catalog, flattened: sub-controls point at their parent."""

    id: str  # the OSCAL control id, stable: rules refer to it
    label: str  # the reference people cite, e.g. "164.312(a)(1)"; the id when the catalog has none
    title: str
    description: str  # the statement prose (joined when a control has several statement parts)
    parent_id: str | None  # enclosing control; None for a top-level control of a group
    group_id: str | None
    group_title: str
    order: int  # document order across the whole catalog, from 1
    depth: int  # 0 for a control directly in a group or catalog, 1 for its sub-controls, ...
    # Our namespaced props, kept for export: citation ("45 CFR 164.308(a)(1)(ii)(A)"),
    # requirement-type (standard | implementation-specification), implementation (required | addressable).
    props: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str:
        return dict(self.props).get(name, "")


@dataclass(frozen=True)
class CatalogSpec:
    """A framework read from an OSCAL catalog: what the policy app stores as Framework + Controls."""

    code: str  # framework code, e.g. "hipaa" (metadata prop framework-code, or derived from the title)
    title: str
    version: str
    oscal_version: str
    uuid: str
    last_modified: str
    controls: tuple[ControlSpec, ...] = field(default_factory=tuple)

    def control_ids(self) -> list[str]:
        return [c.id for c in self.controls]

    def get(self, control_id: str) -> ControlSpec | None:
        for c in self.controls:
            if c.id == control_id:
                return c
        return None


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _obj(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise OscalError(path, f"must be an object, got {_type_name(value)}")
    return value


def _required(container: dict, key: str, path: str):
    if key not in container:
        raise OscalError(path, f'required property "{key}" is missing')
    return container[key]


def _string(value, path: str, *, pattern: re.Pattern | None = None, what: str = "") -> str:
    if not isinstance(value, str):
        raise OscalError(path, f"must be a string, got {_type_name(value)}")
    if pattern is not None and not pattern.match(value):
        raise OscalError(path, f"{value[:80]!r} is not {what or 'valid'}")
    return value


def _line(value, path: str) -> str:
    """OSCAL markup-line: a string without line breaks."""
    _string(value, path)
    if "\n" in value or value == "":
        raise OscalError(path, "must be one non-empty line of text")
    return value


def _array(value, path: str, *, min_items: int = 1) -> list:
    if not isinstance(value, list):
        raise OscalError(path, f"must be an array, got {_type_name(value)}")
    if len(value) < min_items:
        raise OscalError(path, f"must have at least {min_items} item(s) when present")
    return value


def _token(value, path: str) -> str:
    return _string(value, path, pattern=TOKEN_RE, what="an OSCAL token (a letter or _, then letters, digits, . - _)")


def _uuid(value, path: str) -> str:
    return _string(value, path, pattern=UUID_RE, what="an RFC 4122 version 4 or 5 UUID")


def _datetime_tz(value, path: str) -> str:
    return _string(value, path, pattern=DATETIME_TZ_RE, what="a date-time with a time zone (e.g. 2024-01-31T12:00:00Z)")


def _check_metadata(meta, path: str) -> dict:
    meta = _obj(meta, path)
    _line(_required(meta, "title", path), f"{path}.title")
    _datetime_tz(_required(meta, "last-modified", path), f"{path}.last-modified")
    _string(_required(meta, "version", path), f"{path}.version", pattern=STRING_RE, what="a non-empty string")
    version = _string(
        _required(meta, "oscal-version", path), f"{path}.oscal-version", pattern=STRING_RE, what="a non-empty string"
    )
    if not re.match(r"^1\.\d+\.\d+", version):
        raise OscalError(f"{path}.oscal-version", f"{version!r} is not an OSCAL 1.x version")
    if "props" in meta:
        _check_props(meta["props"], f"{path}.props")
    return meta


def _check_props(props, path: str) -> list[dict]:
    props = _array(props, path)
    for i, prop in enumerate(props):
        where = f"{path}[{i}]"
        prop = _obj(prop, where)
        _token(_required(prop, "name", where), f"{where}.name")
        _string(_required(prop, "value", where), f"{where}.value", pattern=STRING_RE, what="a non-empty string")
        if "ns" in prop:
            _string(prop["ns"], f"{where}.ns", pattern=re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$"), what="a URI")
        if "uuid" in prop:
            _uuid(prop["uuid"], f"{where}.uuid")
    return props


def _prop(props: list[dict], name: str, *, ns: str | None = None) -> str | None:
    for prop in props:
        if prop.get("name") == name and (ns is None or prop.get("ns") == ns):
            return prop.get("value")
    return None


def _statement_text(parts: list[dict]) -> str:
    """The prose of the statement part(s), including nested items, as plain text."""
    chunks: list[str] = []

    def walk(part: dict, inside: bool) -> None:
        take = inside or part.get("name") == "statement"
        if take and isinstance(part.get("prose"), str) and part["prose"].strip():
            chunks.append(part["prose"].strip())
        for sub in part.get("parts") or []:
            if isinstance(sub, dict):
                walk(sub, take)

    for part in parts:
        walk(part, False)
    return "\n".join(chunks)


def _check_parts(parts, path: str, ids: dict[str, str]) -> list[dict]:
    parts = _array(parts, path)
    for i, part in enumerate(parts):
        where = f"{path}[{i}]"
        part = _obj(part, where)
        _token(_required(part, "name", where), f"{where}.name")
        if "id" in part:
            _claim_id(_token(part["id"], f"{where}.id"), f"{where}.id", ids)
        if "prose" in part:
            _string(part["prose"], f"{where}.prose")
        if "title" in part:
            _line(part["title"], f"{where}.title")
        if "props" in part:
            _check_props(part["props"], f"{where}.props")
        if "parts" in part:
            _check_parts(part["parts"], f"{where}.parts", ids)
    return parts


def _claim_id(value: str, path: str, ids: dict[str, str]) -> None:
    if value in ids:
        raise OscalError(path, f"id {value!r} is already used at {ids[value]}")
    ids[value] = path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "catalog"


def _decode(data: dict | bytes | str, what: str) -> dict:
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise OscalError("$", f"the {what} is not UTF-8 text") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except RecursionError:
            raise OscalError("$", f"the {what} is nested too deeply to read") from None
        except json.JSONDecodeError as exc:
            raise OscalError("$", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return _obj(data, "$")


def load_catalog(data: dict | bytes | str, *, code: str | None = None) -> CatalogSpec:
    """Read an OSCAL catalog (parsed JSON, or its bytes) into a CatalogSpec.

    Raises OscalError naming the JSON path of the first problem. `code` overrides the
    framework code; otherwise it comes from the metadata prop "framework-code" in our
    namespace, or from the title.
    """
    doc = _decode(data, "catalog")
    if "catalog" not in doc:
        keys = ", ".join(sorted(doc)[:5]) or "nothing"
        raise OscalError("$", f'required property "catalog" is missing (found {keys}); is this an OSCAL catalog?')
    cat = _obj(doc["catalog"], "$.catalog")
    cat_uuid = _uuid(_required(cat, "uuid", "$.catalog"), "$.catalog.uuid")
    meta = _check_metadata(_required(cat, "metadata", "$.catalog"), "$.catalog.metadata")
    unknown = set(cat) - {"uuid", "metadata", "params", "controls", "groups", "back-matter"}
    if unknown:
        raise OscalError("$.catalog", f"unexpected property {sorted(unknown)[0]!r} (OSCAL allows no extra keys here)")

    ids: dict[str, str] = {}
    controls: list[ControlSpec] = []

    def read_control(ctrl, path: str, parent: str | None, group_id: str | None, group_title: str, depth: int):
        ctrl = _obj(ctrl, path)
        cid = _token(_required(ctrl, "id", path), f"{path}.id")
        _claim_id(cid, f"{path}.id", ids)
        title = _line(_required(ctrl, "title", path), f"{path}.title")
        props = _check_props(ctrl["props"], f"{path}.props") if "props" in ctrl else []
        parts = _check_parts(ctrl["parts"], f"{path}.parts", ids) if "parts" in ctrl else []
        controls.append(
            ControlSpec(
                id=cid,
                label=_prop(props, "label") or cid,
                title=title,
                description=_statement_text(parts),
                parent_id=parent,
                group_id=group_id,
                group_title=group_title,
                order=len(controls) + 1,
                depth=depth,
                props=tuple((p["name"], p["value"]) for p in props if p.get("ns") == PORTAL_NS),
            )
        )
        for i, sub in enumerate(_array(ctrl["controls"], f"{path}.controls") if "controls" in ctrl else []):
            read_control(sub, f"{path}.controls[{i}]", cid, group_id, group_title, depth + 1)

    def read_group(group, path: str):
        group = _obj(group, path)
        gid = None
        if "id" in group:
            gid = _token(group["id"], f"{path}.id")
            _claim_id(gid, f"{path}.id", ids)
        gtitle = _line(_required(group, "title", path), f"{path}.title")
        if "props" in group:
            _check_props(group["props"], f"{path}.props")
        if "parts" in group:
            _check_parts(group["parts"], f"{path}.parts", ids)
        if "controls" in group and "groups" in group:
            raise OscalError(path, 'a group holds either "controls" or "groups", not both')
        for i, sub in enumerate(_array(group["groups"], f"{path}.groups") if "groups" in group else []):
            read_group(sub, f"{path}.groups[{i}]")
        for i, ctrl in enumerate(_array(group["controls"], f"{path}.controls") if "controls" in group else []):
            read_control(ctrl, f"{path}.controls[{i}]", None, gid, gtitle, 0)

    for i, ctrl in enumerate(_array(cat["controls"], "$.catalog.controls") if "controls" in cat else []):
        read_control(ctrl, f"$.catalog.controls[{i}]", None, None, "", 0)
    for i, group in enumerate(_array(cat["groups"], "$.catalog.groups") if "groups" in cat else []):
        read_group(group, f"$.catalog.groups[{i}]")
    if not controls:
        raise OscalError("$.catalog", "the catalog has no controls")

    framework_code = code or _prop(meta.get("props") or [], "framework-code", ns=PORTAL_NS) or _slug(meta["title"])
    return CatalogSpec(
        code=framework_code,
        title=meta["title"],
        version=meta["version"],
        oscal_version=meta["oscal-version"],
        uuid=cat_uuid,
        last_modified=meta["last-modified"],
        controls=tuple(controls),
    )


def catalog_to_oscal(spec: CatalogSpec) -> dict:
    """Write a CatalogSpec back as an OSCAL catalog (groups and nesting preserved)."""
    by_parent: dict[str | None, list[ControlSpec]] = {}
    for c in sorted(spec.controls, key=lambda c: c.order):
        by_parent.setdefault(c.parent_id, []).append(c)

    def render(c: ControlSpec) -> dict:
        out: dict = {
            "id": c.id,
            "title": c.title,
            "props": [{"name": "label", "value": c.label}, {"name": "sort-id", "value": f"{c.order:04d}"}]
            + [{"name": name, "ns": PORTAL_NS, "value": value} for name, value in c.props],
        }
        if c.description:
            out["parts"] = [{"id": f"{c.id}_smt", "name": "statement", "prose": c.description}]
        children = by_parent.get(c.id)
        if children:
            out["controls"] = [render(child) for child in children]
        return out

    groups: list[dict] = []
    loose: list[dict] = []
    for c in by_parent.get(None, []):
        if c.group_id is None and not c.group_title:
            loose.append(render(c))
            continue
        if not groups or groups[-1]["_key"] != (c.group_id, c.group_title):
            groups.append({"_key": (c.group_id, c.group_title), "title": c.group_title or "Controls", "controls": []})
            if c.group_id:
                groups[-1]["id"] = c.group_id
        groups[-1]["controls"].append(render(c))
    catalog: dict = {
        "uuid": spec.uuid,
        "metadata": {
            "title": spec.title,
            "last-modified": spec.last_modified,
            "version": spec.version,
            "oscal-version": spec.oscal_version,
            "props": [{"name": "framework-code", "ns": PORTAL_NS, "value": spec.code}],
        },
    }
    if loose:
        catalog["controls"] = loose
    if groups:
        catalog["groups"] = [{k: v for k, v in g.items() if k != "_key"} for g in groups]
    return {"catalog": catalog}


# --- assessment results out ----------------------------------------------------------


def _stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(str(p) for p in parts)))


def _when(value, path: str) -> str:
    """An OSCAL date-time with time zone from an aware datetime or such a string."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise OscalError(path, "datetime has no time zone (OSCAL requires one)")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return _datetime_tz(value, path)


def _clean(text, fallback: str) -> str:
    """A non-empty single line for OSCAL titles and string fields."""
    out = " ".join(str(text or "").split())
    return out or fallback


def _export_subject(subject, where: str) -> dict:
    """A result's subject as {"uri", ...}: a bare URI is accepted for {"uri": URI}."""
    if isinstance(subject, str):
        subject = {"uri": subject}
    if not isinstance(subject, dict) or not isinstance(subject.get("uri"), str) or not subject["uri"]:
        raise OscalError(where, 'must be a subject URI or an object with "uri"')
    return subject


def _export_props(result: dict, status: str, uri: str) -> list[dict]:
    """The portal's props of one result: its status, subject and (when given) rule and rule version."""
    status_prop = {"name": "result-status", "ns": PORTAL_NS, "value": status}
    props = [status_prop, {"name": "subject", "ns": PORTAL_NS, "value": uri}]
    rule = result.get("rule")
    if rule:
        props.append({"name": "rule", "ns": PORTAL_NS, "value": _clean(rule, "rule")})
        if result.get("rule_version") is not None:
            props.append({"name": "rule-version", "ns": PORTAL_NS, "value": str(result["rule_version"])})
    return props


def _export_evidence(evidence, where: str) -> list[dict]:
    """The relevant-evidence rows of one result, each with its evidence id and (when given) sha256."""
    rows = []
    for j, ev in enumerate(evidence):
        ewhere = f"{where}.evidence[{j}]"
        if not isinstance(ev, dict):
            raise OscalError(ewhere, f"must be an object, got {_type_name(ev)}")
        ev_id = ev.get("uuid") or ev.get("id")
        if ev_id in (None, ""):
            raise OscalError(ewhere, 'needs "id" or "uuid"')
        row: dict = {"description": _clean(ev.get("title"), f"Evidence {ev_id}")}
        if ev.get("href"):
            row["href"] = str(ev["href"])
        ev_props = [{"name": "evidence-id", "ns": PORTAL_NS, "value": str(ev_id)}]
        if ev.get("sha256"):
            sha = str(ev["sha256"]).lower()
            if not re.fullmatch(r"[0-9a-f]{64}", sha):
                raise OscalError(f"{ewhere}.sha256", "must be 64 hexadecimal characters")
            ev_props.append({"name": "sha256", "ns": PORTAL_NS, "value": sha})
        row["props"] = ev_props
        rows.append(row)
    return rows


def _export_observation(
    obs_uuid: str, control_id: str, subject: dict, reason: str, props: list, collected: str, evidence_rows: list
) -> dict:
    """The observation of one result: the rule's test of one control on one subject."""
    uri = subject["uri"]
    observation: dict = {
        "uuid": obs_uuid,
        "title": _clean(f"{control_id} on {uri}", control_id),
        "description": reason,
        "props": props,
        "methods": ["TEST"],  # an automated rule over recorded evidence
        "types": ["control-objective"],
        "subjects": [
            {
                "subject-uuid": _stable_uuid("subject", uri),
                "type": "inventory-item",
                "title": _clean(subject.get("name") or uri, uri),
                "props": [{"name": "uri", "ns": PORTAL_NS, "value": uri}]
                + ([{"name": "kind", "ns": PORTAL_NS, "value": subject["kind"]}] if subject.get("kind") else []),
            }
        ],
        "collected": collected,
    }
    if evidence_rows:
        observation["relevant-evidence"] = evidence_rows
    return observation


def _export_finding(
    finding_uuid: str, obs_uuid: str, control_id: str, uri: str, status: str, reason: str, props: list
) -> dict:
    """The finding of one applicable result: the control's objective, satisfied or not, and why."""
    finding: dict = {
        "uuid": finding_uuid,
        "title": _clean(f"{control_id}: {status} for {uri}", control_id),
        "description": reason,
        "props": props,
        "target": {
            "type": "objective-id",
            "target-id": control_id,
            "status": {"state": _STATE[status], "reason": _REASON[status]},
        },
        "related-observations": [{"observation-uuid": obs_uuid}],
    }
    if status == "missing":
        finding["target"]["status"]["remarks"] = "No evidence of the required kind was recorded for this subject."
    elif status == "excepted":
        finding["target"]["status"]["remarks"] = "Not satisfied; covered by an approved, unexpired exception."
    return finding


def _export_result_block(
    fw_code: str, fw_title: str, title, start: str, end: str, control_ids: list, observations: list, findings: list
) -> dict:
    """The one `results` entry: the period, the reviewed controls, observations and findings."""
    result_block: dict = {
        "uuid": _stable_uuid("result", fw_code, start, end),
        "title": _clean(title, f"{fw_title} results"),
        "description": f"Automated evaluation of {fw_title} controls over recorded evidence, from {start} to {end}.",
        "start": start,
        "end": end,
        "props": [{"name": "framework-code", "ns": PORTAL_NS, "value": fw_code}],
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": cid} for cid in control_ids]}
                if control_ids
                else {"include-all": {}}
            ]
        },
    }
    if observations:
        result_block["observations"] = observations
    if findings:
        result_block["findings"] = findings
    return result_block


def export_assessment_results(
    *,
    framework,
    results: Iterable[dict],
    title: str,
    period_start,
    period_end,
    import_ap_href: str = "#assessment-plan",
    published=None,
    version: str = "1",
    document_uuid: str | None = None,
) -> dict:
    """Build an OSCAL assessment-results document from per (control, subject) results.

    `framework` is a CatalogSpec or anything with `code`, `title` and `version`
    attributes (or such a dict). Each result is a dict:

        control_id   the catalog control id (becomes the finding's objective target)
        subject      {"uri", "kind", "name"} or just the subject's URI
        status       pass | fail | missing | excepted | not-applicable
        reason       one sentence
        evidence     [{"id" or "uuid", "title", "sha256", "href"}, ...]
        evaluated_at aware datetime or ISO date-time with zone
        rule         optional rule key; rule_version optional int

    The same inputs give the same document (uuids are derived from them), except
    `published`, which defaults to now.
    """

    def attr(name: str):
        return framework.get(name) if isinstance(framework, dict) else getattr(framework, name, None)

    fw_code = _clean(attr("code"), "framework")
    fw_title = _clean(attr("title"), fw_code)
    fw_version = _clean(attr("version"), "1")
    start = _when(period_start, "period_start")
    end = _when(period_end, "period_end")
    now = _when(published or datetime.now(UTC), "published")

    observations: list[dict] = []
    findings: list[dict] = []
    control_ids: list[str] = []
    for i, result in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(result, dict):
            raise OscalError(where, f"must be an object, got {_type_name(result)}")
        control_id = _token(result.get("control_id"), f"{where}.control_id")
        status = result.get("status")
        if status not in STATUSES:
            raise OscalError(f"{where}.status", f"{status!r} is not one of {', '.join(STATUSES)}")
        subject = _export_subject(result.get("subject"), f"{where}.subject")
        uri = subject["uri"]
        collected = _when(result.get("evaluated_at"), f"{where}.evaluated_at")
        reason = _clean(result.get("reason"), status)
        if control_id not in control_ids:
            control_ids.append(control_id)
        props = _export_props(result, status, uri)
        evidence_rows = _export_evidence(result.get("evidence") or [], where)

        obs_uuid = _stable_uuid("observation", fw_code, i, control_id, uri, status, collected)
        observations.append(_export_observation(obs_uuid, control_id, subject, reason, props, collected, evidence_rows))
        if status == "not-applicable":
            continue
        finding_uuid = _stable_uuid("finding", fw_code, i, control_id, uri, status, collected)
        findings.append(_export_finding(finding_uuid, obs_uuid, control_id, uri, status, reason, props))

    result_block = _export_result_block(fw_code, fw_title, title, start, end, control_ids, observations, findings)
    doc = {
        "assessment-results": {
            "uuid": document_uuid or _stable_uuid("assessment-results", fw_code, start, end, title),
            "metadata": {
                "title": _clean(title, "Assessment results"),
                "published": now,
                "last-modified": now,
                "version": _clean(version, "1"),
                "oscal-version": OSCAL_VERSION,
                "props": [
                    {"name": "framework-code", "ns": PORTAL_NS, "value": fw_code},
                    {"name": "framework-version", "ns": PORTAL_NS, "value": fw_version},
                ],
            },
            "import-ap": {"href": import_ap_href},
            "results": [result_block],
        }
    }
    validate_assessment_results(doc)
    return doc


def _check_result(res, rp: str, claim) -> None:
    """One entry of `results`: its period, reviewed controls, observations and findings."""
    res = _obj(res, rp)
    claim(_required(res, "uuid", rp), f"{rp}.uuid")
    _line(_required(res, "title", rp), f"{rp}.title")
    _string(_required(res, "description", rp), f"{rp}.description")
    _datetime_tz(_required(res, "start", rp), f"{rp}.start")
    if "end" in res:
        _datetime_tz(res["end"], f"{rp}.end")
        if res["end"] < res["start"] and res["end"][-1] == res["start"][-1] == "Z":
            raise OscalError(f"{rp}.end", "is before start")
    if "props" in res:
        _check_props(res["props"], f"{rp}.props")
    _check_reviewed_controls(_required(res, "reviewed-controls", rp), f"{rp}.reviewed-controls")
    observation_uuids = set()
    for o, obs in enumerate(_array(res["observations"], f"{rp}.observations") if "observations" in res else []):
        observation_uuids.add(_check_observation(obs, f"{rp}.observations[{o}]", claim))
    for f, finding in enumerate(_array(res["findings"], f"{rp}.findings") if "findings" in res else []):
        _check_finding(finding, f"{rp}.findings[{f}]", claim, observation_uuids)


def _check_reviewed_controls(rc, path: str) -> None:
    """Each control selection has exactly one of include-all or include-controls."""
    rc = _obj(rc, path)
    selections = _array(_required(rc, "control-selections", path), f"{path}.control-selections")
    for s, sel in enumerate(selections):
        sp = f"{path}.control-selections[{s}]"
        sel = _obj(sel, sp)
        if ("include-all" in sel) == ("include-controls" in sel):
            raise OscalError(sp, 'needs exactly one of "include-all" or "include-controls"')
        if "include-all" in sel:
            _obj(sel["include-all"], f"{sp}.include-all")
            continue
        for c, inc in enumerate(_array(sel["include-controls"], f"{sp}.include-controls")):
            cp = f"{sp}.include-controls[{c}]"
            inc = _obj(inc, cp)
            _token(_required(inc, "control-id", cp), f"{cp}.control-id")


def _check_observation(obs, op: str, claim) -> str:
    """One observation: methods, collected, subjects and relevant evidence. Returns its uuid."""
    obs = _obj(obs, op)
    claim(_required(obs, "uuid", op), f"{op}.uuid")
    if "title" in obs:
        _line(obs["title"], f"{op}.title")
    _string(_required(obs, "description", op), f"{op}.description")
    methods = _array(_required(obs, "methods", op), f"{op}.methods")
    for m, method in enumerate(methods):
        _string(method, f"{op}.methods[{m}]", pattern=STRING_RE, what="a non-empty string")
    _datetime_tz(_required(obs, "collected", op), f"{op}.collected")
    if "props" in obs:
        _check_props(obs["props"], f"{op}.props")
    for t, typ in enumerate(_array(obs["types"], f"{op}.types") if "types" in obs else []):
        _token(typ, f"{op}.types[{t}]")
    for s, subj in enumerate(_array(obs["subjects"], f"{op}.subjects") if "subjects" in obs else []):
        sp = f"{op}.subjects[{s}]"
        subj = _obj(subj, sp)
        _uuid(_required(subj, "subject-uuid", sp), f"{sp}.subject-uuid")
        _token(_required(subj, "type", sp), f"{sp}.type")
        if "props" in subj:
            _check_props(subj["props"], f"{sp}.props")
    evidence = _array(obs["relevant-evidence"], f"{op}.relevant-evidence") if "relevant-evidence" in obs else []
    for e, ev in enumerate(evidence):
        ep = f"{op}.relevant-evidence[{e}]"
        ev = _obj(ev, ep)
        _string(_required(ev, "description", ep), f"{ep}.description")
        if "href" in ev:
            _string(ev["href"], f"{ep}.href", pattern=STRING_RE, what="a URI reference")
        if "props" in ev:
            _check_props(ev["props"], f"{ep}.props")
    return obs["uuid"]


def _check_finding(finding, fp: str, claim, observation_uuids: set) -> None:
    """One finding: its target and status, and related observations that exist in the same result."""
    finding = _obj(finding, fp)
    claim(_required(finding, "uuid", fp), f"{fp}.uuid")
    _line(_required(finding, "title", fp), f"{fp}.title")
    _string(_required(finding, "description", fp), f"{fp}.description")
    if "props" in finding:
        _check_props(finding["props"], f"{fp}.props")
    target = _obj(_required(finding, "target", fp), f"{fp}.target")
    ttype = _required(target, "type", f"{fp}.target")
    if ttype not in ("objective-id", "statement-id"):
        raise OscalError(f"{fp}.target.type", f'{ttype!r} is not "objective-id" or "statement-id"')
    _token(_required(target, "target-id", f"{fp}.target"), f"{fp}.target.target-id")
    status = _obj(_required(target, "status", f"{fp}.target"), f"{fp}.target.status")
    state = _required(status, "state", f"{fp}.target.status")
    if state not in ("satisfied", "not-satisfied"):
        raise OscalError(f"{fp}.target.status.state", f'{state!r} is not "satisfied" or "not-satisfied"')
    if "reason" in status:
        _token(status["reason"], f"{fp}.target.status.reason")
    related = finding.get("related-observations")
    for k, rel in enumerate(_array(related, f"{fp}.related-observations") if related is not None else []):
        kp = f"{fp}.related-observations[{k}]"
        rel = _obj(rel, kp)
        ref = _uuid(_required(rel, "observation-uuid", kp), f"{kp}.observation-uuid")
        if ref not in observation_uuids:
            raise OscalError(f"{kp}.observation-uuid", f"{ref} names no observation of this result")


def validate_assessment_results(doc) -> None:
    """Check the required structure of an OSCAL assessment-results document; raise OscalError.

    Written from the OSCAL 1.1.x JSON schema's required properties and formats (see
    the module docstring for what this does and does not cover), plus the one
    cross-reference the schema cannot express: every related-observation points at an
    observation of the same result.
    """
    doc = _obj(doc, "$")
    ar = _obj(_required(doc, "assessment-results", "$"), "$.assessment-results")
    base = "$.assessment-results"
    unknown = set(ar) - {"uuid", "metadata", "import-ap", "local-definitions", "results", "back-matter"}
    if unknown:
        raise OscalError(base, f"unexpected property {sorted(unknown)[0]!r}")
    _uuid(_required(ar, "uuid", base), f"{base}.uuid")
    meta = _check_metadata(_required(ar, "metadata", base), f"{base}.metadata")
    if "published" in meta:
        _datetime_tz(meta["published"], f"{base}.metadata.published")
    import_ap = _obj(_required(ar, "import-ap", base), f"{base}.import-ap")
    href = _required(import_ap, "href", f"{base}.import-ap")
    _string(href, f"{base}.import-ap.href", pattern=STRING_RE, what="a URI reference")
    results = _array(_required(ar, "results", base), f"{base}.results")
    seen_uuids: dict[str, str] = {}

    def claim(value: str, path: str) -> None:
        _uuid(value, path)
        if value in seen_uuids:
            raise OscalError(path, f"uuid {value} is already used at {seen_uuids[value]}")
        seen_uuids[value] = path

    for r, res in enumerate(results):
        _check_result(res, f"{base}.results[{r}]", claim)

CATALOG_DIR = Path(__file__).resolve().parent / "catalogs"


def shipped_catalogs() -> dict[str, CatalogSpec]:
    """The catalogs that ship with the portal (apps/policy/catalogs/*.json), by framework code."""
    out: dict[str, CatalogSpec] = {}
    for path in sorted(CATALOG_DIR.glob("*.json")):
        try:
            spec = load_catalog(path.read_bytes())
        except OscalError as exc:
            raise OscalError(f"{path.name}: {exc.path}", exc.problem) from None
        out[spec.code] = spec
    return out
