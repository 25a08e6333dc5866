"""The release sign-off policy as data: change classes and their chains (N of M per slot).

Loaded from TOML (the shipped `release_policy.toml`, or PORTAL_RELEASE_POLICY_FILE) and
validated loudly; read (once per path) by apps.common.policy_files. Slots are the approval
engine's (`apps.approvals.slots.Slot`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from apps.approvals.slots import Slot
from apps.common.policy_files import policy_file_load, policy_toml
from apps.inventory.models import RiskTier

SHIPPED = Path(__file__).with_name("release_policy.toml")
WHAT = "release policy"


@dataclass(frozen=True)
class Step:
    slot: str
    count: int

    @property
    def label(self) -> str:
        return Slot(self.slot).label


@dataclass(frozen=True)
class ChangeClass:
    name: str
    label: str
    description: str
    chain: tuple[Step, ...]
    by_risk_tier: dict[str, tuple[Step, ...]]

    def chain_for(self, risk_tier: str) -> tuple[Step, ...]:
        return self.by_risk_tier.get(risk_tier, self.chain)


@dataclass(frozen=True)
class ReleasePolicy:
    environments: frozenset[str]
    classes: dict[str, ChangeClass]
    source: str

    def choices(self) -> list[tuple[str, str]]:
        return [(c.name, c.label) for c in self.classes.values()]

    def chain_of(self, change_class: str, *, risk_tier: str, environment: str) -> tuple[Step, ...]:
        """The chain a class needs for a system of this risk tier in this environment (empty: none)."""
        cls = self.classes.get(change_class)
        if cls is None or environment not in self.environments:
            return ()
        return cls.chain_for(risk_tier)


def _chain(value, what: str, bad) -> tuple[Step, ...]:
    if not isinstance(value, list):
        raise bad(f"{what} must be a list of {{slot, count}} steps")
    steps, seen = [], set()
    for i, step in enumerate(value, start=1):
        if not isinstance(step, dict) or step.get("slot") not in Slot.values:
            raise bad(f"{what} step {i}: slot must be one of {', '.join(Slot.values)}")
        count = step.get("count", 1)
        if not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 10):
            raise bad(f"{what} step {i}: count must be 1 to 10")
        if step["slot"] in seen:
            raise bad(f"{what} names slot {step['slot']!r} twice; use count")
        seen.add(step["slot"])
        steps.append(Step(slot=step["slot"], count=count))
    return tuple(steps)


def chain_covers(stricter: tuple[Step, ...], other: tuple[Step, ...]) -> bool:
    """Every approval `other` requires, `stricter` requires too (the same slot, at least as many people)."""
    counts = {s.slot: s.count for s in stricter}
    return all(counts.get(s.slot, 0) >= s.count for s in other)


def chain_raises(new: tuple[Step, ...], old: tuple[Step, ...]) -> bool:
    """`new` asks for strictly more scrutiny than `old`: all of it and something more."""
    return chain_covers(new, old) and not chain_covers(old, new)


def parse_policy(text: str, *, source: str = "<string>") -> ReleasePolicy:
    def bad(message: str):
        return ImproperlyConfigured(f"{WHAT} {source}: {message}")

    doc = policy_toml(text, what=WHAT, source=source)
    envs = (doc.get("signoff") or {}).get("environments")
    if not (isinstance(envs, list) and envs and all(isinstance(e, str) and e for e in envs)):
        raise bad("signoff.environments must list at least one environment")
    classes = {}
    for name, spec in (doc.get("classes") or {}).items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
            raise bad(f"class name {name!r} must be a short lowercase slug")
        if not isinstance(spec, dict) or not isinstance(spec.get("label"), str):
            raise bad(f"classes.{name} needs a label")
        tiers = {}
        for tier, chain in (spec.get("by_risk_tier") or {}).items():
            if tier not in RiskTier.values:
                raise bad(f"classes.{name}.by_risk_tier: unknown risk tier {tier!r}")
            tiers[tier] = _chain(chain, f"classes.{name}.by_risk_tier.{tier}", bad)
        classes[name] = ChangeClass(
            name=name,
            label=spec["label"],
            description=str(spec.get("description", "")),
            chain=_chain(spec.get("chain", []), f"classes.{name}.chain", bad),
            by_risk_tier=tiers,
        )
    if not classes:
        raise bad("define at least one change class")
    return ReleasePolicy(environments=frozenset(envs), classes=classes, source=source)


def release_policy() -> ReleasePolicy:
    """The release policy in force (cached per file path)."""
    return policy_file_load(setting="PORTAL_RELEASE_POLICY_FILE", shipped=SHIPPED, what=WHAT, parse=parse_policy)
