"""Refused decision attempts as security events in the ledger: who tried what, and why not.

A refusal rolls the decision back (nothing of it is written), but the attempt itself is a
fact worth keeping: self-approval, an author signing their own release, a wrong password
at step-up, a decision on a version that changed. `decision_refusals_recorded()` wraps a
decision service OUTSIDE its transaction; when the service raises, the transaction has
already rolled back, and the entry is written in a transaction of its own, so it commits
although the decision did not. (Inside a caller's outer transaction it joins that one.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.ledger.services import ledger_record

DECISION_REFUSED = "security.decision_refused"
REAUTH_FAILED = "security.reauth_failed"


def refusal_rule(exc: Exception) -> str | None:
    """Which rule refused the attempt; None when the error is plain bad input, not a refusal."""
    if isinstance(exc, ValidationError):
        return "stale_digest" if "digest" in getattr(exc, "error_dict", {}) else None
    message = str(exc)
    if "Separation of duties" in message:
        return "separation_of_duties"
    if "Re-authenticat" in message:
        return "reauthentication"
    if "impossible to complete" in message:
        return "chain_completability"
    return "not_eligible"


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def refusal_record(*, actor: Any, attempt: str, target: Any, rule: str, why: str, data: dict | None = None) -> None:
    """Record one refused attempt, in a transaction of its own."""
    with transaction.atomic():
        ledger_record(
            actor=actor,
            action=DECISION_REFUSED,
            target=target,
            data={"attempt": attempt, "rule": rule, "why": why[:1000], **(data or {})},
        )


@contextmanager
def decision_refusals_recorded(*, actor: Any, attempt: str, target: Any, digest: str | None = None) -> Iterator[None]:
    """Run a decision; if it is refused (PermissionDenied, or a stale digest), record why and re-raise."""
    try:
        yield
    except (PermissionDenied, ValidationError) as exc:
        rule = refusal_rule(exc)
        if rule is not None and getattr(actor, "is_authenticated", False):
            refusal_record(actor=actor, attempt=attempt, target=target, rule=rule, why=_message(exc),
                           data={"digest": digest or ""})  # fmt: skip
        raise


def reauth_failure_record(*, user: Any, why: str, target: Any = None, path: str = "") -> None:
    """A wrong password (or code) at step-up re-authentication, in a transaction of its own."""
    with transaction.atomic():
        ledger_record(actor=user, action=REAUTH_FAILED, target=target, data={"why": why, "path": path[:300]})
