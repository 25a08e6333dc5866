"""Data minimisation at ingestion: redact personal-data fields of a JSON body before it is stored.

Pure functions from bytes to bytes. `receipt_accept` calls `ingest_redact()` after the
webhook's signature was checked on the original body and before `blob_store()`; the stored
body is then the redacted document, with its own sha256, and the receipt's
`ReceiptRedaction` row keeps both digests and the rules that ran.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from apps.retention.policy import RedactionRule

REDACTED = "[redacted]"
MAX_PATHS = 200  # paths listed on the receipt; the count is always exact


@dataclass(frozen=True)
class Redaction:
    """What redaction did to one body."""

    body: bytes  # what is stored
    original_sha256: str
    stored_sha256: str
    rules: tuple[str, ...]
    paths: tuple[str, ...]  # JSON paths of redacted values (first MAX_PATHS)
    count: int

    @property
    def changed(self) -> bool:
        return self.original_sha256 != self.stored_sha256


def _matches(rules: list[RedactionRule], parent: str, key: str) -> bool:
    for rule in rules:
        for field in rule.fields:
            if key in field.keys and (field.parent == "*" or field.parent == parent):
                return True
    return False


def redact_document(doc, rules: list[RedactionRule]) -> tuple[object, list[str]]:
    """Replace matching string values with REDACTED, in place; returns (doc, paths redacted).

    A dict's parent is the key it was reached by (list items inherit the list's key), so
    `{"parent": "author", "keys": ["email"]}` redacts `commits[3].author.email`."""
    paths: list[str] = []
    # Iterative walk: webhook bodies can nest deeper than Python's recursion limit allows.
    stack = [(doc, "", "$")]
    while stack:
        node, parent, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{key}"
                if isinstance(value, str) and value and value != REDACTED and _matches(rules, parent, key):
                    node[key] = REDACTED
                    paths.append(child)
                elif isinstance(value, (dict, list)):
                    stack.append((value, key, child))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, parent, f"{path}[{i}]"))
    paths.sort()
    return doc, paths


def redact_body(body: bytes, rules: list[RedactionRule]) -> Redaction:
    """Redact a JSON body; a body that is not a JSON object, or that nothing matched, is kept byte for byte."""
    original = hashlib.sha256(body).hexdigest()
    names = tuple(r.name for r in rules)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        return Redaction(body, original, original, names, (), 0)
    doc, paths = redact_document(doc, rules)
    if not paths:
        return Redaction(body, original, original, names, (), 0)
    stored = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return Redaction(stored, original, hashlib.sha256(stored).hexdigest(), names, tuple(paths[:MAX_PATHS]), len(paths))
