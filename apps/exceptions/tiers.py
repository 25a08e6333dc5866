"""The tier policy as data: risk matrix, maximum duration and approval chain per tier.

Loaded from a TOML file (the shipped `tier_policy.toml`, or PORTAL_EXCEPTION_POLICY_FILE)
and validated loudly: a bad policy file stops start-up checks and every use, it is never
guessed at. Read (once per path) by apps.common.policy_files, the loader of every policy file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from apps.approvals.slots import Slot  # noqa: F401  (re-exported: the tier chains name these slots)
from apps.common.policy_files import policy_file_load, policy_toml

SHIPPED = Path(__file__).with_name("tier_policy.toml")
WHAT = "exception tier policy"


class Tier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


TIER_ORDER = {Tier.LOW: 0, Tier.MEDIUM: 1, Tier.HIGH: 2, Tier.CRITICAL: 3}


@dataclass(frozen=True)
class TierRule:
    tier: str
    max_days: int
    chain: tuple[str, ...]


@dataclass(frozen=True)
class TierPolicy:
    likelihood: tuple[str, ...]
    impact: tuple[str, ...]
    matrix: tuple[tuple[str, ...], ...]
    tiers: dict[str, TierRule]
    source: str

    def tier_for(self, likelihood: int, impact: int) -> str:
        """The tier of a likelihood x impact rating (both 1-based); ValueError when out of range."""
        if not (1 <= likelihood <= len(self.likelihood)) or not (1 <= impact <= len(self.impact)):
            raise ValueError(f"likelihood and impact go from 1 to {len(self.likelihood)} and {len(self.impact)}")
        return self.matrix[likelihood - 1][impact - 1]

    def rule(self, tier: str) -> TierRule:
        return self.tiers[tier]


def parse_policy(text: str, *, source: str = "<string>") -> TierPolicy:
    """Validate a tier policy document; ImproperlyConfigured naming what is wrong."""

    def bad(message: str):
        return ImproperlyConfigured(f"{WHAT} {source}: {message}")

    doc = policy_toml(text, what=WHAT, source=source)
    risk = doc.get("risk") or {}
    likelihood, impact, matrix = risk.get("likelihood"), risk.get("impact"), risk.get("matrix")
    if not (isinstance(likelihood, list) and likelihood and all(isinstance(x, str) for x in likelihood)):
        raise bad("risk.likelihood must be a list of labels")
    if not (isinstance(impact, list) and impact and all(isinstance(x, str) for x in impact)):
        raise bad("risk.impact must be a list of labels")
    if not (isinstance(matrix, list) and len(matrix) == len(likelihood)):
        raise bad("risk.matrix needs one row per likelihood")
    for i, row in enumerate(matrix, start=1):
        if not (isinstance(row, list) and len(row) == len(impact)):
            raise bad(f"risk.matrix row {i} needs one tier per impact")
        unknown = [t for t in row if t not in Tier.values]
        if unknown:
            raise bad(f"risk.matrix row {i}: unknown tier {unknown[0]!r} (use {', '.join(Tier.values)})")
    raw_tiers = doc.get("tiers") or {}
    tiers = {}
    for tier in Tier.values:
        spec = raw_tiers.get(tier)
        if not isinstance(spec, dict):
            raise bad(f"tiers.{tier} is missing")
        max_days, chain = spec.get("max_days"), spec.get("chain")
        if not (isinstance(max_days, int) and not isinstance(max_days, bool) and 1 <= max_days <= 3660):
            raise bad(f"tiers.{tier}.max_days must be a whole number of days from 1 to 3660")
        if not (isinstance(chain, list) and chain):
            raise bad(f"tiers.{tier}.chain must list at least one slot")
        unknown = [s for s in chain if s not in Slot.values]
        if unknown:
            raise bad(f"tiers.{tier}.chain: unknown slot {unknown[0]!r} (use {', '.join(Slot.values)})")
        if len(set(chain)) != len(chain):
            raise bad(f"tiers.{tier}.chain names a slot twice")
        tiers[tier] = TierRule(tier=tier, max_days=max_days, chain=tuple(chain))
    extra = set(raw_tiers) - set(Tier.values)
    if extra:
        raise bad(f"unknown tier(s) {sorted(extra)}")
    return TierPolicy(
        likelihood=tuple(likelihood),
        impact=tuple(impact),
        matrix=tuple(tuple(row) for row in matrix),
        tiers=tiers,
        source=source,
    )


def tier_policy() -> TierPolicy:
    """The tier policy in force (cached per file path)."""
    return policy_file_load(setting="PORTAL_EXCEPTION_POLICY_FILE", shipped=SHIPPED, what=WHAT, parse=parse_policy)
