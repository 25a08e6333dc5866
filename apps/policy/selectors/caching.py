"""Page fragments cached under versions that change whenever what they show changes."""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.db import connection

from apps.accounts.scoping import (
    visible_system_ids,
)
from apps.inventory.models import System

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- page caches

# How long a computed page fragment may be reused at most; it is reused only while its version
# (below) is unchanged, so this bounds memory, not staleness.
PAGE_CACHE_SECONDS = 900


def rollups_version() -> str:
    """Changes whenever a rollup row is written, a rule gets a new version, a catalog is loaded or a
    system is edited.

    Three index probes (migration 0003 indexes computed_at); pages built from rollups are cached
    under it, so a new rollup run (beat, or the refresh after results change) shows at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT max(computed_at) FROM policy_coveragesnapshot), "
            "(SELECT max(computed_at) FROM policy_systemmetricsnapshot), "
            "(SELECT max(id) FROM policy_ruleversion), (SELECT max(loaded_at) FROM policy_framework), "
            "(SELECT max(updated_at) FROM inventory_system)"  # names and tiers shown next to the figures
        )
        return "|".join(str(v) for v in cursor.fetchone())


def system_results_version(system: System) -> str:
    """Changes whenever a result of the system changes (evaluation rewrites evaluated_at only then,
    and a newly judged subject gets new results), or the system itself is edited."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(evaluated_at) FROM policy_controlresult WHERE system_id = %s", [system.pk])
        return f"{cursor.fetchone()[0]}|{system.updated_at.isoformat() if system.updated_at else ''}"


def scope_key(user) -> str:
    """The part of a cache key that says what the user may see: "all", or the visible systems."""
    ids = visible_system_ids(user)
    if ids is None:
        return "all"
    return "s" + hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


def cached_fragment(key_parts: tuple, compute):
    """compute(), reused from the cache while every part of the key (versions included) is the same.

    A cache outage never fails a page: it is computed instead."""
    key = "policy:page:" + hashlib.sha256(repr(key_parts).encode()).hexdigest()
    try:
        value = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: compute, as without a cache
        logger.warning("page cache unavailable", exc_info=True)
        return compute()
    if value is not None:
        return value
    value = compute()
    try:
        cache.set(key, value, PAGE_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("page cache unavailable", exc_info=True)
    return value
