"""Where apps above intake plug into it, registered from their AppConfig.ready().

Intake (the ingest app) knows no app above it; what must happen inside its transactions is
handed in here instead:

- the body redactor (apps.retention): runs on an accepted body before it is hashed and stored,
  adds to the `receipt.accepted` ledger entry and records itself in receipt_accept's transaction;
- the evidence-recorded hook (apps.pipeline): runs in receipt_parse's transaction right after
  the evidence is recorded; the pipeline decides what follows and in which order;
- the blob lock period (apps.retention): the shortest retention period, the default S3 object
  lock of a stored body (storage_s3.py).

With nothing registered, intake stores bodies as sent and records evidence with no follow-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BodyRedactor:
    """Three functions of the redaction that receipt_accept applies (see apps.retention.services)."""

    # (source=, channel=, body=, system=) -> a redaction with `.body`, or None when no rule applies
    redact: Callable[..., Any]
    # (redaction or None) -> what the receipt.accepted ledger entry adds
    ledger_data: Callable[[Any], dict]
    # (receipt_id=, redaction=) -> None: record it on the receipt, in the accept transaction
    record: Callable[..., None]


_NO_REDACTION = BodyRedactor(
    redact=lambda **kwargs: None,
    ledger_data=lambda redaction: {},
    record=lambda **kwargs: None,
)
_hooks: dict[str, Any] = {}


def body_redactor_register(redactor: BodyRedactor) -> None:
    """Set the redaction every accepted body goes through (apps.retention)."""
    _hooks["redactor"] = redactor


def body_redactor() -> BodyRedactor:
    return _hooks.get("redactor", _NO_REDACTION)


def evidence_recorded_hook_register(hook: Callable[..., None]) -> None:
    """Set what runs after receipt_parse records evidence: hook(receipt=, evidence=, body=) (apps.pipeline)."""
    _hooks["evidence_recorded"] = hook


def evidence_recorded(*, receipt, evidence: list, body: bytes) -> None:
    """Run the registered evidence-recorded hook, inside the caller's transaction."""
    hook = _hooks.get("evidence_recorded")
    if hook is not None:
        hook(receipt=receipt, evidence=evidence, body=body)


def lock_days_provider_register(provider: Callable[[], int]) -> None:
    """Set where the default object-lock period of stored bodies comes from (apps.retention)."""
    _hooks["lock_days"] = provider


def lock_days_default() -> int | None:
    """The registered default object-lock period in days, or None when nothing provides one."""
    provider = _hooks.get("lock_days")
    return provider() if provider is not None else None
