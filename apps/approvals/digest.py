"""Digest binding: a decision counts only for the exact version the approver reviewed."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def ensure_digest(*, current: str, expected: str | None, reference: str, version: int) -> str:
    """The digest a decision binds to (`current`); a ValidationError on `digest` when the approver
    reviewed another one. Both doors (API and page) require `expected`; internal callers (demo
    data) may pass None to bind to the current version."""
    if expected is not None and expected != current:
        raise ValidationError(
            {"digest": [f"{reference} changed while you were reading it (now version {version}); review it again"]}
        )
    return current
