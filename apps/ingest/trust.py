"""Trusted keys: who may sign provenance for a system or a source, and the check made at parse time.

Services (`trusted_key_add`, `trusted_key_revoke`: admins only, a ledger entry each), selectors
(`trusted_key_list`, `trusted_keys_for`) and `provenance_verify`, which `receipt_parse` calls on
every parse result before the evidence is recorded. Kept apart from services.py because it is
one concern with its own model (TrustedKey) and its own command (`trust_key`).

What counts for a receipt: the keys and identities of the receipt's system (the one it names,
else its source's) and those of its source; revoked ones never. Revoking does not rewrite
evidence verified earlier (evidence is never edited): re-parse the receipts to check them again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.formats import ParseResult
from apps.ingest.models import Source, TrustedKey
from apps.ingest.services import ensure_can_manage_sources
from apps.ingest.signatures import (
    TrustedIdentity,
    TrustedPublicKey,
    UnusableKey,
    Verification,
    load_public_key,
    verify,
)
from apps.inventory.models import System
from apps.ledger.services import ledger_record

__all__ = [
    "TrustedKeyError",
    "provenance_verify",
    "trusted_key_add",
    "trusted_key_list",
    "trusted_key_revoke",
    "trusted_keys_for",
]


class TrustedKeyError(ValueError):
    """A trusted key cannot be added or revoked as asked; the message says why."""


def _ensure_admin(actor) -> None:
    ensure_can_manage_sources(actor)  # the same people who manage sources manage what they may sign


@transaction.atomic
def trusted_key_add(
    *,
    actor,
    name: str,
    system: System | None = None,
    source: Source | None = None,
    public_key_pem: str = "",
    keyid: str = "",
    issuer: str = "",
    identity: str = "",
) -> TrustedKey:
    """Trust a public key (PEM) or a Sigstore identity (issuer + subject) for one system or one source."""
    _ensure_admin(actor)
    name = (name or "").strip()
    if not name:
        raise TrustedKeyError("give the key a name (who or what signs with it)")
    if (system is None) == (source is None):
        raise TrustedKeyError("a trusted key is for exactly one system or one source")
    key = TrustedKey(
        name=name[:120],
        system=system,
        source=source,
        keyid=(keyid or "").strip()[:200],
        created_by=actor if not isinstance(actor, str) else None,
        created_at=timezone.now(),
    )
    if public_key_pem.strip():
        if issuer or identity:
            raise TrustedKeyError("give either a public key or a Sigstore issuer and identity, not both")
        try:
            _loaded, algorithm, fingerprint = load_public_key(public_key_pem.strip())
        except UnusableKey as exc:
            raise TrustedKeyError(f"public key refused: {exc}") from None
        key.kind, key.algorithm, key.fingerprint = TrustedKey.Kind.PUBLIC_KEY, algorithm, fingerprint
        key.public_key_pem = public_key_pem.strip() + "\n"
    else:
        issuer, identity = (issuer or "").strip(), (identity or "").strip()
        if not (issuer and identity):
            raise TrustedKeyError("give a PEM public key, or a Sigstore issuer and identity (certificate subject)")
        key.kind, key.issuer, key.identity = TrustedKey.Kind.SIGSTORE_IDENTITY, issuer[:500], identity[:500]
    key.save()
    ledger_record(
        actor=actor,
        action="trusted_key.added",
        target=key,
        data={
            "name": key.name,
            "kind": key.kind,
            "scope": key.scope,
            "algorithm": key.algorithm,
            "fingerprint": key.fingerprint,
            "keyid": key.keyid,
            "issuer": key.issuer,
            "identity": key.identity,
        },
    )
    return key


@transaction.atomic
def trusted_key_revoke(*, actor, key_id: int, reason: str = "") -> TrustedKey:
    """Stop trusting a key from now on; the row stays, with who revoked it, when and why."""
    _ensure_admin(actor)
    key = (
        TrustedKey.objects.select_for_update(of=("self",)).select_related("system", "source").filter(pk=key_id).first()
    )
    if key is None:
        raise TrustedKeyError(f"no trusted key {key_id}")
    if key.revoked_at is not None:
        raise TrustedKeyError(f"trusted key {key_id} was already revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC")
    key.revoked_at = timezone.now()
    key.revoked_by = actor if not isinstance(actor, str) else None
    key.revoke_reason = (reason or "").strip()[:2000]
    key.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    ledger_record(
        actor=actor,
        action="trusted_key.revoked",
        target=key,
        data={"name": key.name, "scope": key.scope, "fingerprint": key.fingerprint, "reason": key.revoke_reason},
    )
    return key


# ---------------------------------------------------------------- selectors


def trusted_key_list(*, system: System | None = None, include_revoked: bool = False) -> QuerySet[TrustedKey]:
    """Trusted keys, newest first; of one system (and its sources) when given."""
    keys = TrustedKey.objects.select_related("system", "source", "created_by", "revoked_by")
    if system is not None:
        keys = keys.filter(Q(system=system) | Q(source__system=system))
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys


def trusted_keys_for(*, system_id: int | None, source_id: int | None) -> tuple[list, list]:
    """(public keys, Sigstore identities) trusted for a receipt of this system and source; one query."""
    scope = Q(source_id=source_id) if source_id else Q(pk__in=[])
    if system_id:
        scope |= Q(system_id=system_id)
    keys, identities = [], []
    for row in TrustedKey.objects.filter(scope, revoked_at__isnull=True).order_by("id"):
        if row.kind == TrustedKey.Kind.SIGSTORE_IDENTITY:
            identities.append(TrustedIdentity(name=row.name, issuer=row.issuer, identity=row.identity))
            continue
        try:
            loaded, algorithm, fingerprint = load_public_key(row.public_key_pem)
        except UnusableKey:
            continue  # refused at add time; a row edited by hand in the database is not trusted
        keys.append(TrustedPublicKey(row.name, fingerprint, algorithm, loaded, keyid=row.keyid))
    return keys, identities


# ---------------------------------------------------------------- the check


def _scope_label(system_id: int | None, source: Source | None) -> str:
    parts = []
    if system_id:
        slug = System.objects.filter(pk=system_id).values_list("slug", flat=True).first()
        parts.append(f"system {slug}")
    if source is not None:
        parts.append(f"source {source.name}")
    return " or ".join(parts) or "this receipt"


def _apply(facts, outcome: Verification) -> None:
    summary = facts.summary
    summary["verified"] = outcome.verified
    summary["signer"] = outcome.signer
    summary["reason"] = outcome.reason
    if outcome.verified:
        # Only a verified statement speaks for its builder (rule provenance-allowed-builder).
        summary["builder_id"] = summary.get("claimed_builder_id", "")
    facts.verdict_reason = outcome.reason


def provenance_verify(*, result: ParseResult, system_id: int | None, source: Source | None) -> int:
    """Check the signatures of every attestation in `result` against what is trusted; returns how many verified.

    Sets each item's `verified`, `signer` and `reason` (and `builder_id` when verified) from the
    outcome of the check, never from the document. Loads the trusted keys once per result."""
    pending = [facts for facts in result.evidence if facts.verification]
    if not pending:
        return 0
    keys, identities = trusted_keys_for(system_id=system_id, source_id=source.pk if source else None)
    scope = _scope_label(system_id, source)
    verified = 0
    for facts in pending:
        outcome = verify(
            facts.verification,
            keys=keys,
            identities=identities,
            scope=scope,
            trusted_root=settings.PORTAL_SIGSTORE_TRUSTED_ROOT,
        )
        _apply(facts, outcome)
        verified += outcome.verified
        facts.verification = None  # checked: nothing of it is stored
    return verified
