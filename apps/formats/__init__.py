"""Pure-function evidence parsers: bytes in, normalized facts out (no Django, no database).

Upload formats are looked up in `PARSERS`; `parse_upload` detects the format when it
is not given, and `parse_webhook` handles GitHub and GitLab deliveries. Every failure
caused by the input is a `ParseError` whose message says what to fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from .base import Edge, Ending, EvidenceFacts, ParseError, ParseResult, Subject
from .checkov import parse_checkov
from .cyclonedx import parse_cyclonedx
from .detect import detect_format, sniff_content_type
from .drift import parse_drift
from .dvc import parse_dvc
from .fairness import parse_fairness
from .github import parse_github
from .gitlab import parse_gitlab
from .great_expectations import parse_great_expectations
from .intoto import parse_intoto
from .junit import parse_junit
from .kubernetes import parse_kubernetes
from .mlflow import parse_mlflow
from .mlreports import parse_metrics, parse_model_card
from .oci import parse_oci
from .opa import parse_opa
from .openlineage import parse_openlineage
from .sarif import parse_sarif
from .spdx import parse_spdx
from .subjects import commit_subject, image_subject, normalize_subject, purl_subject
from .terraform import parse_terraform

__all__ = [
    "PARSERS",
    "Edge",
    "Ending",
    "EvidenceFacts",
    "ParseError",
    "ParseResult",
    "Subject",
    "commit_subject",
    "detect_format",
    "image_subject",
    "normalize_subject",
    "parse_generic",
    "parse_upload",
    "parse_webhook",
    "purl_subject",
]

PARSERS: dict[str, Callable[[bytes], ParseResult]] = {
    "junit": parse_junit,
    "sarif": parse_sarif,
    "cyclonedx": parse_cyclonedx,
    "spdx": parse_spdx,
    "intoto": parse_intoto,
    "model-card": parse_model_card,
    "metrics": parse_metrics,
    "terraform": parse_terraform,
    "kubernetes": parse_kubernetes,
    "checkov": parse_checkov,
    "great-expectations": parse_great_expectations,
    "drift": parse_drift,
    "fairness": parse_fairness,
    "dvc": parse_dvc,
    "opa": parse_opa,
}

WEBHOOK_PARSERS: dict[str, Callable[[str, bytes], ParseResult]] = {
    "github": parse_github,
    "gitlab": parse_gitlab,
    # pushed by these systems or pulled by apps.connectors (event names in each module)
    "mlflow": parse_mlflow,
    "oci": parse_oci,
    "openlineage": parse_openlineage,
}


def parse_generic(body: bytes, *, content_type: str = "", filename: str = "") -> ParseResult:
    """Evidence for a file no parser understands: size, type and hash, verdict info."""
    data = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else b""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    detected = sniff_content_type(data)
    summary = {
        "filename": name,
        "size_bytes": len(data),
        "content_type": detected,
        "declared_content_type": (content_type or "")[:200],
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    evidence = EvidenceFacts(
        kind="generic",
        title=name or "Uploaded file",
        verdict="info",
        verdict_reason="stored as is; no parser for this content",
        effective_at=None,
        subjects=[],
        summary=summary,
    )
    return ParseResult(format="generic", evidence=[evidence])


def parse_upload(body: bytes, kind: str | None = None, *, content_type: str = "", filename: str = "") -> ParseResult:
    """Parse an uploaded file as `kind`, or as the detected format when `kind` is None."""
    fmt = detect_format(body, content_type=content_type, filename=filename) if kind is None else kind
    parser = PARSERS.get(fmt)
    if parser is None:
        return parse_generic(body, content_type=content_type, filename=filename)
    return parser(body)


def parse_webhook(provider: str, event: str, body: bytes) -> ParseResult:
    """Parse a webhook delivery from `provider` ("github" or "gitlab")."""
    parser = WEBHOOK_PARSERS.get((provider or "").lower())
    if parser is None:
        raise ParseError(
            f"webhook: unknown provider {str(provider)[:50]!r}; expected one of {', '.join(WEBHOOK_PARSERS)}"
        )
    return parser(event, body)
