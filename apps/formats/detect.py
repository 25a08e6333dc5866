"""Decide an upload's format from its content, reading as little of it as possible."""

from __future__ import annotations

import json
import re

from .fairness import plain_by_group
from .intoto import DETECT_MARKERS as PROVENANCE_MARKERS

SNIFF_BYTES = 64 * 1024  # markers of every supported format sit near the top
TAIL_BYTES = 4 * 1024
FULL_PARSE_LIMIT = 2 * 1024 * 1024  # small JSON may be parsed to look at its top-level keys

_XML_PROLOGUE = re.compile(rb"^(?:<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>|\s)*", re.DOTALL | re.IGNORECASE)
_XML_ROOT = re.compile(rb"^<([A-Za-z_][\w.:-]*)([^>]*)>?")
_XMLNS = re.compile(rb"""xmlns(?::[\w.-]+)?\s*=\s*["']([^"']*)["']""")


def _key(name: str, value: str | None = None) -> re.Pattern:
    if value is None:
        return re.compile(rb'"' + re.escape(name.encode()) + rb'"\s*:')
    return re.compile(rb'"' + re.escape(name.encode()) + rb'"\s*:\s*"' + value.encode() + rb'"')


_CYCLONEDX = _key("bomFormat", "CycloneDX")
_SPDX = _key("spdxVersion", "SPDX-2")
_INTOTO_TYPE = _key("_type", r"https://in-toto\.io/Statement/")
_DSSE = _key("payloadType")
_SIGSTORE = _key("dsseEnvelope")
_SARIF_SCHEMA = re.compile(rb'"\$schema"\s*:\s*"[^"]*sarif', re.IGNORECASE)
_SARIF_VERSION = _key("version", r"2\.1\.0")
_RUNS = _key("runs")
_MODEL_CARD = re.compile(rb'"(model_details|model-index|model_card|cardData)"\s*:')
_METRICS = re.compile(rb'"(metrics|fairness|thresholds)"\s*:')
# markers for large documents of the infrastructure and data formats (small ones are parsed)
# Terraform 0.12-0.14 write format_version "0.1", 0.15-1.0 "0.2", 1.1 onwards "1.x"
_TERRAFORM = _key("format_version", r"(?:0\.[12]|1\.\d+)")
_TERRAFORM_BODY = re.compile(rb'"(terraform_version|planned_values|resource_changes|prior_state)"\s*:')
_CHECKOV = _key("check_type")
_CHECKOV_BODY = re.compile(rb'"(failed_checks|passed_checks|results)"\s*:')
_DECISION_ID = _key("decision_id")
_K8S_JSON = re.compile(rb'"apiVersion"\s*:\s*"[^"]*"')
_GX = re.compile(rb'"(expectation_config|expectation_suite_name|evaluated_expectations|run_results)"\s*:')
_EVIDENTLY = re.compile(
    rb'"(metric"\s*:\s*"(DatasetDriftMetric|DataDriftTable|ColumnDriftMetric)|type"\s*:\s*"evidently:)'
)
_DRIFT_SUMMARY = _key("type", "drift-summary")
_FAIRLEARN = re.compile(rb'"by_group"\s*:\s*\{')
# YAML: top-level keys at the start of a line
_YAML_API_VERSION = re.compile(rb"^apiVersion:[ \t]*['\"]?[\w./-]+", re.MULTILINE)
_YAML_KIND = re.compile(rb"^kind:[ \t]*['\"]?[A-Z]\w*", re.MULTILINE)
_YAML_LIST_ITEM_K8S = re.compile(rb"^-[ \t]+apiVersion:[ \t]*\S", re.MULTILINE)
_DVC_LOCK_SCHEMA = re.compile(rb"^schema:[ \t]*['\"]?2\.0['\"]?[ \t]*$", re.MULTILINE)
_DVC_STAGES = re.compile(rb"^stages:[ \t]*$", re.MULTILINE)
_DVC_OUTS = re.compile(rb"^outs:[ \t]*$", re.MULTILINE)
_DVC_HASH = re.compile(rb"^[- \t]+(md5|etag|checksum|path):[ \t]*\S", re.MULTILINE)
# SPDX tag-value: the version tag starts a line (it opens the document header)
_SPDX_TAG_VALUE = re.compile(rb"^SPDXVersion:[ \t]*SPDX-2\.", re.MULTILINE)


def _decode_head(body: bytes) -> bytes:
    head = bytes(body[:SNIFF_BYTES])
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head = head.decode("utf-16", errors="ignore").encode("utf-8")
        except (UnicodeError, ValueError):
            return b""
    return head.lstrip()


def _sniff_xml(head: bytes) -> str:
    rest = _XML_PROLOGUE.sub(b"", head, count=1)
    match = _XML_ROOT.match(rest)
    if not match:
        return "generic"
    name = match.group(1).split(b":")[-1]
    attributes = match.group(2)
    if name in (b"testsuites", b"testsuite"):
        return "junit"
    if name == b"bom" and any(ns.startswith(b"http://cyclonedx.org/schema/bom") for ns in _XMLNS.findall(attributes)):
        return "cyclonedx"
    return "generic"


def _from_keys(doc) -> str:
    if not isinstance(doc, dict):
        return "generic"
    if doc.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if isinstance(doc.get("spdxVersion"), str):
        return "spdx"
    if (
        "payloadType" in doc
        or "dsseEnvelope" in doc
        or str(doc.get("_type", "")).startswith("https://in-toto.io/Statement/")
    ):
        return "intoto"
    if doc.get("version") == "2.1.0" and isinstance(doc.get("runs"), list):
        return "sarif"
    infra = _infra_from_keys(doc)
    if infra:
        return infra
    if any(k in doc for k in ("model_details", "model-index", "cardData", "model_card")):
        return "model-card"
    if "metrics" in doc or "fairness" in doc:
        return "metrics"
    return "generic"


def _infra_from_keys(doc: dict) -> str:
    """terraform, checkov, great-expectations, drift, fairness, kubernetes, opa, or ''."""
    version = doc.get("format_version")
    if (
        isinstance(version, str)
        and (version.startswith("1.") or version in ("0.1", "0.2"))
        and any(k in doc for k in ("terraform_version", "planned_values", "resource_changes", "values"))
    ):
        return "terraform"
    if isinstance(doc.get("check_type"), str) and isinstance(doc.get("results"), dict):
        return "checkov"
    if "checkov_version" in doc and "passed" in doc and "failed" in doc:
        return "checkov"  # Checkov's bare summary when it found nothing to scan
    results = doc.get("results")
    if isinstance(results, list) and "statistics" in doc and isinstance(doc.get("meta", {}), dict):
        first = results[0] if results else {}
        if not results or (isinstance(first, dict) and "expectation_config" in first):
            return "great-expectations"
    if isinstance(doc.get("run_results"), dict) or (
        isinstance(doc.get("validation_results"), list) and "statistics" in doc
    ):
        return "great-expectations"
    if doc.get("type") == "drift-summary":
        return "drift"
    metrics = doc.get("metrics")
    if isinstance(metrics, list) and metrics and isinstance(metrics[0], dict):
        first = metrics[0]
        config = first.get("config") if isinstance(first.get("config"), dict) else {}
        if str(first.get("metric", "")).endswith(("DriftMetric", "DriftTable")) or str(
            config.get("type", "")
        ).startswith("evidently:"):
            return "drift"
    if isinstance(doc.get("by_group"), dict):
        return "fairness"
    if plain_by_group(doc) is not None:  # MetricFrame.by_group as pandas writes it, nothing added
        return "fairness"
    if isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str):
        return "kubernetes"
    if "decision_id" in doc and ("path" in doc or "result" in doc):
        return "opa"
    return ""


def _from_array(doc) -> str:
    """A top-level JSON array: Checkov reports per framework or OPA decision events."""
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
        return "generic"
    first = doc[0]
    if isinstance(first.get("check_type"), str) and isinstance(first.get("results"), dict):
        return "checkov"
    if "decision_id" in first:
        return "opa"
    return "generic"


def _opa_lines(head: bytes) -> bool:
    """OPA's console/file decision log: JSON lines, some of them (other server logs mix in) with a decision_id."""
    for line in head.split(b"\n")[:20]:
        if b"decision_id" not in line:
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            return False
        return isinstance(event, dict) and "decision_id" in event
    return False


def _sniff_yaml(head: bytes) -> str:
    """Kubernetes manifests, dvc.lock and .dvc files by their top-level keys."""
    if _DVC_LOCK_SCHEMA.search(head) and _DVC_STAGES.search(head):
        return "dvc"
    if _DVC_OUTS.search(head) and _DVC_HASH.search(head) and not _YAML_KIND.search(head):
        return "dvc"
    if (_YAML_API_VERSION.search(head) and _YAML_KIND.search(head)) or _YAML_LIST_ITEM_K8S.search(head):
        return "kubernetes"
    return "generic"


def _sniff_large_json(head: bytes) -> str:
    """Markers of the infrastructure and data formats in the head of a big JSON document."""
    if _TERRAFORM.search(head) and _TERRAFORM_BODY.search(head):
        return "terraform"
    if _CHECKOV.search(head) and _CHECKOV_BODY.search(head):
        return "checkov"
    if _GX.search(head):
        return "great-expectations"
    if _EVIDENTLY.search(head) or _DRIFT_SUMMARY.search(head):
        return "drift"
    if _FAIRLEARN.search(head):
        return "fairness"
    if _DECISION_ID.search(head):
        return "opa"
    if _K8S_JSON.search(head) and _key("kind").search(head):
        return "kubernetes"
    return ""


def detect_format(body: bytes, *, content_type: str = "", filename: str = "") -> str:
    """junit, sarif, cyclonedx, spdx, intoto, terraform, kubernetes, checkov,
    great-expectations, drift, fairness, dvc, opa, model-card, metrics or generic.

    The decision comes from the content; `content_type` and `filename` are accepted
    for callers' convenience but never override what the bytes say (a file named
    report.xml holding a PDF is generic). Strong markers are matched in the first
    64 KiB (and the last 4 KiB for SARIF's version); only a small JSON document
    without such markers is parsed whole to look at its top-level keys.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return "generic"
    head = _decode_head(body)
    if not head:
        return "generic"
    if head.startswith(b"<"):
        return _sniff_xml(head)
    if head.startswith(b"["):  # JSON arrays: Checkov per framework, OPA's posted decisions
        return _sniff_json_array(body, head)
    if not head.startswith(b"{"):  # YAML, SPDX tag-value, other text, binaries
        return "spdx" if _SPDX_TAG_VALUE.search(head) else _sniff_yaml(head)
    return _sniff_json_object(body, head)


def _sniff_json_array(body: bytes, head: bytes) -> str:
    """A JSON array: parsed whole when small, else judged by its markers."""
    if len(body) <= FULL_PARSE_LIMIT:
        try:
            return _from_array(json.loads(bytes(body)))
        except (ValueError, RecursionError):
            return "generic"
    if _CHECKOV.search(head) and _CHECKOV_BODY.search(head):
        return "checkov"
    return "opa" if _DECISION_ID.search(head) else "generic"


def _sniff_json_object(body: bytes, head: bytes) -> str:
    """A JSON object (or JSON Lines): strong markers first, then the keys of a small document."""
    if _CYCLONEDX.search(head):
        return "cyclonedx"
    if _SPDX.search(head):
        return "spdx"
    if _INTOTO_TYPE.search(head) or _DSSE.search(head) or _SIGSTORE.search(head):
        return "intoto"
    if PROVENANCE_MARKERS.search(head):  # PyPI attestations and provenance files, in-toto links
        return "intoto"
    tail = bytes(body[-TAIL_BYTES:]) if len(body) > SNIFF_BYTES else b""
    if _RUNS.search(head) and (
        _SARIF_SCHEMA.search(head) or _SARIF_VERSION.search(head) or _SARIF_VERSION.search(tail)
    ):
        return "sarif"
    if len(body) <= FULL_PARSE_LIMIT:
        return _sniff_small_json(body, head)
    large = _sniff_large_json(head)
    if large:
        return large
    if _MODEL_CARD.search(head):
        return "model-card"
    if _METRICS.search(head):
        return "metrics"
    return "generic"


def _sniff_small_json(body: bytes, head: bytes) -> str:
    """A document small enough to parse whole: its top-level keys decide; else JSON Lines."""
    try:
        return _from_keys(json.loads(bytes(body)))
    except (ValueError, RecursionError):
        pass
    # JSON Lines of attestations or OPA decisions, or not JSON at all
    if _opa_lines(head):
        return "opa"
    first_line = head.split(b"\n", 1)[0]
    try:
        return "intoto" if _from_keys(json.loads(first_line)) == "intoto" else "generic"
    except (ValueError, RecursionError):
        return "generic"


def sniff_content_type(body: bytes) -> str:
    """A best-effort media type for generic uploads, from magic bytes."""
    head = bytes(body[:512])
    for magic, media in (
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"GIF8", "image/gif"),
    ):
        if head.startswith(magic):
            return media
    stripped = _decode_head(body)
    if stripped.startswith((b"{", b"[")):
        return "application/json"
    if stripped.startswith(b"<"):
        return "application/xml"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 512-byte edge
            return "application/octet-stream"
    return "text/plain" if head else "application/octet-stream"
