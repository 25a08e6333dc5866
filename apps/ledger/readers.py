"""Who may read the ledger, and who reads all of it: answered by the accounts app.

The ledger is the bottom of the core layer: it records actors but knows no roles or engagements.
apps.accounts registers the two answers from its ready(). Until it does, only superusers read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _superuser(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_superuser", False))


@dataclass(frozen=True)
class LedgerReaders:
    """The two questions every reader of the ledger (pages, API, exports) asks about a user."""

    # may open the ledger at all (pages, proofs, exports)
    may_read: Callable[[object], bool] = _superuser
    # reads every entry in full; anyone else who may read gets the entries ledger.scoping lets them see
    reads_everything: Callable[[object], bool] = _superuser


_registered: list[LedgerReaders] = []


def ledger_readers_register(readers: LedgerReaders) -> None:
    """Set who reads the ledger (apps.accounts, from its ready())."""
    _registered[:] = [readers]


def ledger_readers() -> LedgerReaders:
    return _registered[0] if _registered else LedgerReaders()
