"""The retention policy as data: schedules, redaction rules, the direct-identifier detector.

Loaded from a TOML file (the shipped `retention_policy.toml`, or PORTAL_RETENTION_POLICY_FILE)
and validated loudly, like the exception tier policy: a bad file is never guessed at.
Read (once per path) by apps.common.policy_files, the loader of every policy file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from apps.common.policy_files import policy_file_load, policy_toml

SHIPPED = Path(__file__).with_name("retention_policy.toml")
WHAT = "retention policy"
MAX_DAYS = 36600  # a hundred years: anything longer is a typo


@dataclass(frozen=True)
class Schedule:
    """One retention rule: evidence of these kinds (all when empty, minus exclude_kinds), of
    systems in scope for these frameworks (any system when empty), kept `days` days."""

    name: str
    days: int
    kinds: tuple[str, ...] = ()
    exclude_kinds: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldRule:
    parent: str  # "*" = any parent key
    keys: frozenset[str]


@dataclass(frozen=True)
class RedactionRule:
    name: str
    description: str
    channels: frozenset[str]
    fields: tuple[FieldRule, ...]


@dataclass(frozen=True)
class Detector:
    max_bytes: int
    patterns: dict[str, re.Pattern]
    ignore: dict[str, tuple[re.Pattern, ...]]


@dataclass(frozen=True)
class RetentionPolicy:
    default_days: int
    schedules: tuple[Schedule, ...]
    redaction: dict[str, RedactionRule]
    detector: Detector
    source: str
    digest: str  # sha256 of the file: named in disposal ledger entries

    @property
    def file_name(self) -> str:
        """The policy file's name without the server's directories (pages show this, never `source`)."""
        return Path(self.source).name

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)

    def days_for(self, kind: str, frameworks) -> tuple[int, str]:
        """(days, schedule name) for one piece of evidence: the longest matching schedule, else the default."""
        best = None
        for s in self.schedules:
            if s.kinds and kind not in s.kinds:
                continue
            if kind in s.exclude_kinds:
                continue
            if s.frameworks and not set(s.frameworks) & set(frameworks or ()):
                continue
            if best is None or s.days > best.days:
                best = s
        return (best.days, best.name) if best else (self.default_days, "default")


def _strings(value, what: str, bad) -> tuple[str, ...]:
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(x, str) and x for x in value)):
        raise bad(f"{what} must be a list of non-empty strings")
    return tuple(value)


def _days(value, what: str, bad) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS):
        raise bad(f"{what} must be a whole number of days from 0 to {MAX_DAYS}")
    return value


def _regex(value, what: str, bad) -> re.Pattern:
    if not isinstance(value, str) or not value:
        raise bad(f"{what} must be a regular expression")
    try:
        return re.compile(value)
    except re.error as exc:
        raise bad(f"{what} is not a valid regular expression ({exc})") from None


def _schedules(specs, bad) -> tuple[Schedule, ...]:
    """The named retention schedules, in order; names are unique slugs and "default" is reserved."""
    schedules, names = [], set()
    for i, spec in enumerate(specs, start=1):
        if not isinstance(spec, dict):
            raise bad(f"retention.schedule #{i} must be a table")
        name = spec.get("name")
        if not (isinstance(name, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,60}", name)):
            raise bad(f"retention.schedule #{i}: name must be a short lowercase slug")
        if name in names or name == "default":
            raise bad(f"retention.schedule #{i}: the name {name!r} is used twice (or reserved)")
        names.add(name)
        unknown = set(spec) - {"name", "days", "kinds", "exclude_kinds", "frameworks"}
        if unknown:
            raise bad(f"retention.schedule {name}: unknown key(s) {sorted(unknown)}")
        schedules.append(
            Schedule(
                name=name,
                days=_days(spec.get("days"), f"retention.schedule {name}: days", bad),
                kinds=_strings(spec.get("kinds"), f"retention.schedule {name}: kinds", bad),
                exclude_kinds=_strings(spec.get("exclude_kinds"), f"retention.schedule {name}: exclude_kinds", bad),
                frameworks=_strings(spec.get("frameworks"), f"retention.schedule {name}: frameworks", bad),
            )
        )
    return tuple(schedules)


def _redaction_rules(specs: dict, bad) -> dict[str, RedactionRule]:
    """The redaction rules by name: each names its channels and the fields it redacts."""
    rules = {}
    for name, spec in specs.items():
        if not isinstance(spec, dict):
            raise bad(f"redaction.rules.{name} must be a table")
        channels = _strings(spec.get("channels"), f"redaction.rules.{name}.channels", bad)
        if not channels:
            raise bad(f"redaction.rules.{name}.channels must name at least one channel")
        fields = []
        for j, f in enumerate(spec.get("fields") or [], start=1):
            if not (isinstance(f, dict) and isinstance(f.get("parent"), str) and f["parent"]):
                raise bad(f'redaction.rules.{name}.fields #{j} needs a parent key (or "*")')
            keys = _strings(f.get("keys"), f"redaction.rules.{name}.fields #{j}.keys", bad)
            if not keys:
                raise bad(f"redaction.rules.{name}.fields #{j}.keys is empty")
            fields.append(FieldRule(parent=f["parent"], keys=frozenset(keys)))
        if not fields:
            raise bad(f"redaction.rules.{name} redacts nothing (no fields)")
        rules[name] = RedactionRule(
            name=name, description=str(spec.get("description", "")), channels=frozenset(channels), fields=tuple(fields)
        )
    return rules


def _detector(det: dict, bad) -> Detector:
    """The secret detector: a size limit, named patterns, and what each pattern ignores."""
    max_bytes = det.get("max_bytes", 5_000_000)
    if not (isinstance(max_bytes, int) and max_bytes > 0):
        raise bad("detector.max_bytes must be a positive whole number")
    patterns = {k: _regex(v, f"detector.patterns.{k}", bad) for k, v in (det.get("patterns") or {}).items()}
    ignore = {}
    for k, v in (det.get("ignore") or {}).items():
        if k not in patterns:
            raise bad(f"detector.ignore.{k} names no pattern")
        ignore[k] = tuple(_regex(x, f"detector.ignore.{k}", bad) for x in _strings(v, f"detector.ignore.{k}", bad))
    return Detector(max_bytes=max_bytes, patterns=patterns, ignore=ignore)


def parse_policy(text: str, *, source: str = "<string>") -> RetentionPolicy:
    """Validate a retention policy document; ImproperlyConfigured naming what is wrong."""

    def bad(message: str):
        return ImproperlyConfigured(f"{WHAT} {source}: {message}")

    doc = policy_toml(text, what=WHAT, source=source)
    retention = doc.get("retention")
    if not isinstance(retention, dict):
        raise bad("the [retention] table is missing")
    default_days = _days(retention.get("default_days"), "retention.default_days", bad)
    schedules = _schedules(retention.get("schedule") or [], bad)
    rules = _redaction_rules((doc.get("redaction") or {}).get("rules") or {}, bad)
    detector = _detector(doc.get("detector") or {}, bad)
    return RetentionPolicy(
        default_days=default_days,
        schedules=schedules,
        redaction=rules,
        detector=detector,
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


def retention_policy() -> RetentionPolicy:
    """The retention policy in force (cached per file path)."""
    return policy_file_load(setting="PORTAL_RETENTION_POLICY_FILE", shipped=SHIPPED, what=WHAT, parse=parse_policy)
