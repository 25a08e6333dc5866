"""Decide an upload's format from its content, reading as little of it as possible."""

from __future__ import annotations

import json
import re

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
    if any(k in doc for k in ("model_details", "model-index", "cardData", "model_card")):
        return "model-card"
    if "metrics" in doc or "fairness" in doc:
        return "metrics"
    return "generic"


def detect_format(body: bytes, *, content_type: str = "", filename: str = "") -> str:
    """junit, sarif, cyclonedx, spdx, intoto, model-card, metrics or generic.

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
    if not head.startswith(b"{"):  # JSON arrays, text, binaries
        return "generic"
    if _CYCLONEDX.search(head):
        return "cyclonedx"
    if _SPDX.search(head):
        return "spdx"
    if _INTOTO_TYPE.search(head) or _DSSE.search(head) or _SIGSTORE.search(head):
        return "intoto"
    tail = bytes(body[-TAIL_BYTES:]) if len(body) > SNIFF_BYTES else b""
    if _RUNS.search(head) and (
        _SARIF_SCHEMA.search(head) or _SARIF_VERSION.search(head) or _SARIF_VERSION.search(tail)
    ):
        return "sarif"
    if len(body) <= FULL_PARSE_LIMIT:
        try:
            return _from_keys(json.loads(bytes(body)))
        except (ValueError, RecursionError):
            # JSON Lines of attestations, or not JSON at all
            first_line = head.split(b"\n", 1)[0]
            try:
                return "intoto" if _from_keys(json.loads(first_line)) == "intoto" else "generic"
            except (ValueError, RecursionError):
                return "generic"
    if _MODEL_CARD.search(head):
        return "model-card"
    if _METRICS.search(head):
        return "metrics"
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
