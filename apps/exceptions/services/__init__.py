"""Writes of the exceptions app: one service per transition, each in one transaction with its ledger entry.

Each service locks the request row, checks the move (ExceptionRequest.TRANSITIONS) and the
actor (chain.py: separation of duties, roles per system; reauth.py: fresh sign-in), writes,
records the ledger entry and notifies people (in-app now, e-mail after commit). Moves that
change what is covered (approve, revoke, expire, return to review) then re-evaluate the
covered control on the covered scope, synchronously, so the result flips at once.

    exception_request   create (draft, or submitted at once)
    exception_submit    draft -> pending
    exception_update    edit a draft or pending request: version + 1, earlier approvals void
    exception_approve   one approval; pending -> approved when the chain is complete
    exception_reject    pending -> rejected
    exception_revoke    approved/pending -> revoked (compliance officer, with reason)
    exception_expire    approved/pending -> expired at expires_at (beat, every minute)
    exception_renew     a new linked request that goes through approval again
    exception_return_to_review   approved -> pending when the frozen state materially changed
    exception_reminders_send     expiry and waiting reminders, once per lead time

The package's parts, each re-exported here so that callers import from the package:

- `validation`: Input of a request: ExceptionInput, and `exception_validate()` turning it into Cleaned values.
- `helpers`: What the transitions share: row lock, visibility, who to notify, voiding approvals, re-evaluation.
- `lifecycle`: Create, submit and update a request.
- `decisions`: Approve, reject, revoke, expire and renew: the decisions on a request.
- `material`: Return an approved exception to review when what it froze has materially changed.
- `reminders`: Expiry and waiting reminders, once per lead time.
- `metrics`: The daily snapshot of exception counts the dashboard reads.
- `executives`: Designating the executives who approve the highest tier.
"""

from apps.exceptions.services.decisions import (
    exception_approve,
    exception_expire,
    exception_expire_due,
    exception_reject,
    exception_renew,
    exception_revoke,
)
from apps.exceptions.services.executives import (
    exception_executive_set,
)
from apps.exceptions.services.helpers import (
    exception_reevaluate,
    rule_ids_for_control,
)
from apps.exceptions.services.lifecycle import (
    exception_request,
    exception_submit,
    exception_update,
)
from apps.exceptions.services.material import (
    exception_check_material_changes,
    exception_return_to_review,
)
from apps.exceptions.services.metrics import (
    exception_metrics_snapshot,
)
from apps.exceptions.services.reminders import (
    exception_reminders_send,
)
from apps.exceptions.services.validation import (
    MIN_TEXT,
    Cleaned,
    ExceptionInput,
    Status,
    exception_validate,
    max_expiry,
)
from apps.exceptions.tiers import Tier  # re-exported: callers took it from here

__all__ = [
    "Cleaned",
    "ExceptionInput",
    "MIN_TEXT",
    "Status",
    "Tier",
    "exception_approve",
    "exception_check_material_changes",
    "exception_executive_set",
    "exception_expire",
    "exception_expire_due",
    "exception_metrics_snapshot",
    "exception_reevaluate",
    "exception_reject",
    "exception_reminders_send",
    "exception_renew",
    "exception_request",
    "exception_return_to_review",
    "exception_revoke",
    "exception_submit",
    "exception_update",
    "exception_validate",
    "max_expiry",
    "rule_ids_for_control",
]
