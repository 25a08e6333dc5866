"""Rule sets as data: load, validate and apply the YAML that maps controls to CEL rules.

A rule set file (apps/policy/rules/default.yaml is the shipped one) looks like::

    version: 1
    rules:
      - key: sast-no-high-findings          # stable identity, [a-z0-9-]
        version: 1                          # bump when the meaning changes
        title: No high-severity findings in the latest static analysis scan
        description: optional, longer text for people
        controls: [soc2-cc7-1, hipaa-164-312-c]   # control ids from the catalogs
        requires: [sast-scan]               # evidence kinds (or "baseline") that must exist
        expression: evidence.sast_scan.summary.high_severity == 0
        selector:                           # every list is optional; absent means "any"
          tiers: [high, critical]           # system.risk_tier
          data_classes: [phi, pii]          # any overlap with system.data_classes
          frameworks: [hipaa]               # any overlap with system.frameworks
          system_kinds: [service, ml_model] # system.kind
          artifact_kinds: [image, release]  # subject.kind
          environments: [prod]              # system.environment
        severity: high                      # low | medium | high | critical
        mode: gate                          # gate (blocks a release) | warn
        message: "{evidence.sast_scan.summary.high_severity} high-severity findings; at most 0 allowed"
                                            # what a person reads when it fails: {fact.path} placeholders
                                            # (|count: size of a list, |days: whole days), no code

`load_rule_set()` checks every rule: known keys only, each expression compiles, each
control id exists in a catalog, no duplicate keys. Errors name the rule and the field.
No Django here: the policy app's services store the RuleSpecs as Rule rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .engine import (
    CompiledRule,
    Facts,
    RuleOutcome,
    RuleSyntaxError,
    check_message,
    compile_rule,
    evaluate,
    evaluate_bounded,
    prepare_facts,
    render_message,
)
from .oscal import CatalogSpec, control_refs, shipped_catalogs

DEFAULT_RULES = Path(__file__).resolve().parent / "rules" / "default.yaml"
SEVERITIES = ("low", "medium", "high", "critical")
MODES = ("gate", "warn")
SELECTOR_FIELDS = {
    # selector key -> (where the value lives in the facts, whether the fact is a list)
    "tiers": (("system", "risk_tier"), False),
    "data_classes": (("system", "data_classes"), True),
    "frameworks": (("system", "frameworks"), True),
    "system_kinds": (("system", "kind"), False),
    "artifact_kinds": (("subject", "kind"), False),
    "environments": (("system", "environment"), False),
}
RULE_FIELDS = {
    "key", "version", "title", "description", "controls", "requires", "expression", "selector", "severity", "mode",
    "message",
}  # fmt: skip
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")


class RuleSetError(ValueError):
    """A rule set file is not valid; the message names the rule and the field."""


@dataclass(frozen=True)
class Selector:
    """Which subjects a rule applies to; an empty tuple means any."""

    tiers: tuple[str, ...] = ()
    data_classes: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    system_kinds: tuple[str, ...] = ()
    artifact_kinds: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in SELECTOR_FIELDS if getattr(self, name)}

    def mismatch(self, facts: Mapping) -> str | None:
        """None when the subject is selected, else a sentence saying why not."""
        for name, ((root, attr), is_list) in SELECTOR_FIELDS.items():
            wanted = getattr(self, name)
            if not wanted:
                continue
            value = (facts.get(root) or {}).get(attr)
            if is_list:
                have = [v for v in (value or []) if isinstance(v, str)]
                if not set(have) & set(wanted):
                    shown = ", ".join(have) or "none"
                    return f"applies only when {root} {attr} include one of {', '.join(wanted)} (has {shown})"
            elif value not in wanted:
                return f"applies only to {root} {attr} {', '.join(wanted)}, not {value or 'unset'}"
        return None


@dataclass(frozen=True)
class RuleSpec:
    """One rule of a rule set, validated and compiled."""

    key: str
    version: int
    title: str
    description: str
    controls: tuple[str, ...]
    requires: tuple[str, ...]  # as written (evidence kinds with "-", or "baseline")
    expression: str
    selector: Selector
    severity: str
    mode: str
    compiled: CompiledRule = field(repr=False, compare=False)
    # plain-language failure message with {fact.path} placeholders (engine.render_message)
    message: str = ""
    message_warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def is_gate(self) -> bool:
        return self.mode == "gate"

    def fingerprint(self) -> str:
        """sha256 of what decides outcomes; a change means a new rule version is due."""
        body = {
            "expression": self.expression,
            "requires": list(self.requires),
            "selector": self.selector.as_dict(),
            "controls": list(self.controls),
            "severity": self.severity,
            "mode": self.mode,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "controls": list(self.controls),
            "requires": list(self.requires),
            "expression": self.expression,
            "selector": self.selector.as_dict(),
            "severity": self.severity,
            "mode": self.mode,
            "message": self.message,
        }

    def outcome_message(self, outcome: RuleOutcome, facts: Facts) -> str:
        """What a person reads for this outcome: the failure message with the facts filled in
        for a fail, the plain reason for missing evidence or an error, nothing for a pass."""
        if outcome.status == "fail":
            if self.message:
                return render_message(self.message, facts)
            return f"Not met: {self.title[:1].lower()}{self.title[1:]}"
        if outcome.status == "missing":
            kinds = ", ".join(outcome.missing) or "required"
            return f"No {kinds} evidence has been recorded, so this could not be judged"
        if outcome.status == "error":
            return f"The rule could not be evaluated ({outcome.reason})"
        return ""


def _strings(value, where: str, *, allow_empty: bool = True) -> tuple[str, ...]:
    if value is None:
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleSetError(f"{where}: must be a list of names")
    if not value and not allow_empty:
        raise RuleSetError(f"{where}: must name at least one")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _rule_controls(value, where: str, control_ids: Iterable[str] | None) -> tuple[str, ...]:
    """A rule's control ids: at least one, each a control of a loaded catalog when those are given."""
    controls = _strings(value, f"{where}.controls", allow_empty=False)
    if control_ids is not None:
        known = set(control_ids)
        for control in controls:
            if control not in known:
                raise RuleSetError(
                    f"{where}.controls: {control!r} is not a control of any loaded catalog "
                    '(name a control by its id, or by "<framework code>:<id>" for one framework\'s)'
                )
    return controls


def _rule_selector(selector_raw, where: str) -> Selector:
    """A rule's selector: a mapping of known selector fields to lists of names."""
    if not isinstance(selector_raw, Mapping):
        raise RuleSetError(f"{where}.selector: must be a mapping")
    unknown = sorted(set(selector_raw) - set(SELECTOR_FIELDS))
    if unknown:
        raise RuleSetError(f"{where}.selector: unknown field {unknown[0]!r}; use {', '.join(SELECTOR_FIELDS)}")
    return Selector(**{k: _strings(v, f"{where}.selector.{k}") for k, v in selector_raw.items()})


def rule_from_dict(
    raw: Mapping, *, where: str = "rule", control_ids: Iterable[str] | None = None, saving: bool = True
) -> RuleSpec:
    """Validate and compile one rule given as a dict (YAML, a form, the API).

    `saving=False` compiles a stored rule without the save-time checks (cost limits, closed field
    paths): a stored rule is always evaluated, bounded by the run-time budget (see
    evaluate_rules_bounded), and a wrong path makes its results errors, which fail closed."""
    if not isinstance(raw, Mapping):
        raise RuleSetError(f"{where}: must be a mapping of rule fields")
    key = raw.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise RuleSetError(f"{where}.key: {key!r} is not a rule key (2 to 80 of a-z, 0-9 and -, starting alnum)")
    where = f"{where} ({key})"
    unknown = sorted(set(raw) - RULE_FIELDS)
    if unknown:
        raise RuleSetError(f"{where}: unknown field {unknown[0]!r}; rule fields are {', '.join(sorted(RULE_FIELDS))}")
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RuleSetError(f"{where}.version: must be a whole number from 1")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip() or "\n" in title.strip():
        raise RuleSetError(f"{where}.title: must be one line of text")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise RuleSetError(f"{where}.description: must be text")
    controls = _rule_controls(raw.get("controls"), where, control_ids)
    requires = _strings(raw.get("requires"), f"{where}.requires")
    severity = raw.get("severity", "medium")
    if severity not in SEVERITIES:
        raise RuleSetError(f"{where}.severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    mode = raw.get("mode", "warn")
    if mode not in MODES:
        raise RuleSetError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
    selector = _rule_selector(raw.get("selector") or {}, where)
    expression = raw.get("expression")
    if not isinstance(expression, str):
        raise RuleSetError(f"{where}.expression: must be a CEL expression as text")
    expression = expression.strip()
    try:
        compiled = compile_rule(expression, requires=requires, saving=saving)
    except RuleSyntaxError as exc:
        raise RuleSetError(f"{where}.expression: {exc}") from None
    message = raw.get("message") or ""
    try:
        message_warnings = check_message(message, saving=saving)
    except RuleSyntaxError as exc:
        raise RuleSetError(f"{where}.message: {exc.message}") from None
    return RuleSpec(
        key=key,
        version=version,
        title=" ".join(title.split()),
        description=" ".join(description.split()),
        controls=controls,
        requires=requires,
        expression=expression,
        selector=selector,
        severity=severity,
        mode=mode,
        compiled=compiled,
        message=" ".join(message.split()),
        message_warnings=message_warnings,
    )


def load_rule_set(
    path: str | Path = DEFAULT_RULES, *, catalogs: Mapping[str, CatalogSpec] | None = None
) -> list[RuleSpec]:
    """Read, validate and compile a YAML rule set; raise RuleSetError naming the rule and field.

    Control ids are checked against `catalogs` (the shipped catalogs when not given).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{path.name}: not valid YAML ({' '.join(str(exc).split())[:300]})") from None
    return rules_from_data(raw, catalogs=catalogs, source=path.name)


def rules_from_data(raw, *, catalogs: Mapping[str, CatalogSpec] | None = None, source: str = "rules") -> list[RuleSpec]:
    """Validate a parsed rule set ({"version": 1, "rules": [...]}) into RuleSpecs."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list):
        raise RuleSetError(f'{source}: expected a mapping with a "rules" list')
    if raw.get("version", 1) != 1:
        raise RuleSetError(f"{source}: rule set format version {raw.get('version')!r} is not supported (use 1)")
    catalogs = shipped_catalogs() if catalogs is None else catalogs
    control_ids = control_refs(catalogs)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw["rules"]):
        rule = rule_from_dict(item, where=f"{source}: rules[{i}]", control_ids=control_ids)
        if rule.key in seen:
            raise RuleSetError(f"{source}: rules[{i}] ({rule.key}): the key is used by an earlier rule")
        seen.add(rule.key)
        rules.append(rule)
    return rules


def control_frameworks(catalogs: Mapping[str, CatalogSpec]) -> dict[str, str]:
    """control id -> framework code (for catalogs whose ids do not repeat, e.g. the shipped ones)."""
    return {c.id: code for code, spec in catalogs.items() for c in spec.controls}


def evaluate_rule(rule: RuleSpec, facts: Mapping | Facts) -> RuleOutcome:
    """Selector first (not-applicable), then the engine (pass, fail, missing, error)."""
    prepared = prepare_facts(facts)
    reason = rule.selector.mismatch(prepared.data)
    if reason is not None:
        return RuleOutcome(status="not-applicable", passed=None, reason=reason)
    outcome = evaluate(rule.compiled, prepared)
    return replace(outcome, message=rule.outcome_message(outcome, prepared))


def evaluate_rule_set(rules: Iterable[RuleSpec], facts: Mapping | Facts) -> list[tuple[RuleSpec, RuleOutcome]]:
    """Every rule over one subject's facts, prepared once."""
    prepared = prepare_facts(facts)
    return [(rule, evaluate_rule(rule, prepared)) for rule in rules]


def evaluate_rules_bounded(rules: list[RuleSpec], facts: list[Facts], *, budget_ms: int) -> list[list[RuleOutcome]]:
    """Every rule over every subject's prepared facts, each rule within `budget_ms` for the batch.

    Returns outcomes[rule index][subject index]. Selectors are decided here (cheap, in this
    process); only the subjects a rule applies to go to the engine's bounded evaluation, so a
    rule that runs out of time fails exactly the results it would have written."""
    out: list[list[RuleOutcome | None]] = [[None] * len(facts) for _ in rules]
    jobs = []
    positions: list[list[int]] = []
    for i, rule in enumerate(rules):
        selected = []
        for j, prepared in enumerate(facts):
            reason = rule.selector.mismatch(prepared.data)
            if reason is None:
                selected.append(j)
            else:
                out[i][j] = RuleOutcome(status="not-applicable", passed=None, reason=reason)
        jobs.append((rule.compiled, [facts[j] for j in selected]))
        positions.append(selected)
    for i, row in enumerate(evaluate_bounded(jobs, [], budget_ms=budget_ms)):
        for j, outcome in zip(positions[i], row, strict=True):
            out[i][j] = replace(outcome, message=rules[i].outcome_message(outcome, facts[j]))
    return out  # type: ignore[return-value]
