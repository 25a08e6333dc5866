"""Reads of packs, scoped to the user, and the ledger reads a build needs."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db.models import Min, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.engagements.selectors import engagement_list_for_user
from apps.evidence.models import Artifact
from apps.evidence.selectors import artifact_list_for_user
from apps.inventory.selectors import system_list_for_user
from apps.ledger.models import Checkpoint, LedgerEntry
from apps.ledger.selectors import ledger_key_list
from apps.ledger.services import inclusion_proof
from apps.ledger.verify import encode_proof
from apps.packs.bundle import pack_signing_key
from apps.packs.models import Pack
from apps.packs.services import sees_all_packs
from apps.policy.selectors import framework_list_for_user

# Ledger entries shown in one pack's report at most (the newest are kept; the report says so).
LEDGER_ROWS_MAX = 20_000


def pack_list_for_user(*, user) -> QuerySet[Pack]:
    """Packs the user may see: all of them for admins and compliance officers, else their own."""
    qs = Pack.objects.select_related("requester").order_by("-requested_at", "-id")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if sees_all_packs(user):
        return qs
    return qs.filter(requester=user)


def pack_get_for_user(*, user, pk: int) -> Pack:
    return get_object_or_404(pack_list_for_user(user=user), pk=pk)


def ledger_rows(condition: Q, *, size: int) -> list[dict]:
    """The scope's ledger entries up to the checkpoint size, oldest first: what the report's table prints
    (index, time, actor, action, object, leaf hash) and, as `entry`, the canonical JSON the ZIP carries."""
    qs = LedgerEntry.objects.filter(condition, index__lt=size).order_by("-index")[:LEDGER_ROWS_MAX]
    rows = []
    for entry in qs.iterator(chunk_size=5000):
        canonical = bytes(entry.canonical)
        rows.append(
            {
                "index": entry.index,
                "recorded_at": entry.recorded_at,
                "actor": entry.actor_label or entry.actor_type,
                "action": entry.action,
                "object": f"{entry.object_type.rsplit('.', 1)[-1]} {entry.object_id}",
                "leaf_hash": hashlib.sha256(b"\x00" + canonical).hexdigest(),
                "entry": canonical.decode("utf-8"),
            }
        )
    rows.reverse()
    return rows


def evidence_ledger_bundles(evidence_ids: list[int], checkpoint: Checkpoint) -> dict[int, dict]:
    """For each evidence item, its `evidence.recorded` entry's bytes, index and inclusion proof."""

    out: dict[int, dict] = {}
    ids = [str(i) for i in evidence_ids]
    for start in range(0, len(ids), 5000):
        entries = LedgerEntry.objects.filter(
            object_type="evidence.evidence", object_id__in=ids[start:start + 5000], action="evidence.recorded",
            index__lt=checkpoint.size,
        ).only("index", "canonical", "object_id")
        for entry in entries:
            out[int(entry.object_id)] = {
                "index": entry.index,
                "entry": bytes(entry.canonical).decode("utf-8"),
                "proof": encode_proof(inclusion_proof(entry.index, checkpoint.size)),
            }
    return out


def request_choices_for_user(*, user) -> dict:
    """What the request form offers: releases and deployments, systems, frameworks, engagements the user sees."""

    artifacts = artifact_list_for_user(user=user).filter(
        kind__in=[Artifact.Kind.RELEASE, Artifact.Kind.DEPLOYMENT]).order_by("-first_seen", "-id")[:200]
    return {
        "artifacts": list(artifacts),
        "systems": list(system_list_for_user(user=user)),
        "frameworks": framework_list_for_user(user=user),
        "engagements": list(engagement_list_for_user(user=user)[:100]),
    }


def verification_key_list() -> list[dict]:
    """keys.json: every ledger and pack key ever used, as C2SP signed-note verifier keys.

    Packs are signed with the ledger's key unless PORTAL_PACK_SIGNING_KEY is set, so every ledger
    key is also listed as a pack key (an old pack was signed by the ledger key of its day)."""


    ledger = ledger_key_list()
    current = pack_signing_key().vkey
    first_pack = Pack.objects.filter(built_at__isnull=False).aggregate(first=Min("built_at"))["first"]
    pack = [{"purpose": "pack", "vkey": current, "valid_from": first_pack, "valid_to": None}]
    dated = {k["vkey"]: k for k in ledger}
    older = list(settings.PORTAL_PACK_TRUSTED_KEYS)
    if not settings.PORTAL_PACK_SIGNING_KEY:
        older += [k["vkey"] for k in ledger]
    for vkey in dict.fromkeys(older):
        if vkey == current:
            continue
        row = dated.get(vkey, {})
        pack.append({"purpose": "pack", "vkey": vkey, "valid_from": row.get("valid_from"),
                     "valid_to": row.get("valid_to")})
    return ledger + pack
