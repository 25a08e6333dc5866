"""The rule engine: CEL expressions over a documented fact model, no Django.

A rule is a CEL (Common Expression Language) expression that must produce `true` or
`false` for one subject. `compile_rule()` parses it once (raising RuleSyntaxError with a
line and column the editor can point at) and `evaluate()` runs it over the facts the
policy app gathers for a subject. The outcome is one of four:

    pass     the expression was true
    fail     the expression was false
    missing  an evidence kind the rule `requires` has not been recorded for the subject,
             so the expression was not run: no evidence is not the same as failing evidence
    error    the expression could not be evaluated on these facts (a key that is not
             there, a type mismatch, a non-boolean result); `passed` is False so that a
             hard gate fails closed, and the reason says what to fix

Nothing raised inside CEL escapes `evaluate()`.

The engine is the `common-expression-language` package (Rust bindings to cel-rust):
its parser reports `<input>:line:column: message` for every syntax error and a
compiled program runs tens of thousands of times a second, which matters because
every rule is re-run per subject whenever evidence arrives.

The fact model is documented once, in FACT_MODEL_DOC below; docs/policy-fact-model.md
is the same text (a test keeps them equal).
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import logging
import math
import os
import re
import select
import signal
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import cel

FACT_MODEL_DOC = """\
# Policy fact model

A rule is a [CEL](https://cel.dev) expression that must evaluate to `true` (pass) or
`false` (fail) for one *subject*: a commit, image, model version, release or
deployment. The policy app builds the facts below for each subject and evaluates every
applicable rule over them. The engine lives in `apps/policy/engine.py`; this page is
generated from its `FACT_MODEL_DOC` string.

## Names a rule can use

- `subject` (map): the artifact being judged.
  `kind` (commit, image, package, model-version, dataset, release, deployment, file,
  other), `uri`, `digest`, `name`.
- `system` (map): the governed system the subject belongs to.
  `slug`, `name`, `kind` (service, ml_model, data_platform), `risk_tier` (low, medium,
  high, critical), `data_classes` (list: phi, pii, financial, cardholder, credentials,
  model_output, public), `frameworks` (list: hipaa, gdpr, soc2, eu-ai-act, sr-11-7),
  `environment` (dev, staging, prod, or "" when the subject is not deployed),
  `allowed_regions` (list: the cloud regions resources may live in, set per system, else
  the regions of the system's environments), `log_retention_days` (int: the log
  retention the system must keep, set per system, default 365).
- `evidence` (map): the latest evidence of each kind, keyed by kind with `-` written
  as `_` (CEL names cannot contain `-`): `evidence.test_report`, `evidence.sast_scan`,
  `evidence.sbom`, `evidence.provenance`, `evidence.fairness`, ... A kind with no
  evidence is an absent key. Only evidence that counts for the subject's system is seen
  (here, in `lineage` and in `baseline`): evidence whose source is bound to that system, or
  bound to no system and allowed for it by an admin (issue 17; README "Sending evidence").
  A subject that belongs to no system is not evaluated; its gate says so.
- `lineage` (map): `has_provenance_chain` (bool: commit, build, artifact and
  deployment are all evidenced and linked), `builders` (list of builder ids seen
  upstream), `upstream_kinds` (list of subject kinds upstream), `commit` (uri of the
  source commit, or "").
- `approvals` (list): sign-offs on the subject, each `{approver, role, at}` (`at` is
  a timestamp).
- `baseline` (map): for a model version, the model version now in production:
  `{version, subject_uri, evidence_id, metrics: {...}, fairness: {...}}`; an empty map
  when there is none.
- `now` (timestamp): when the evaluation runs (the "as of" time of a historical
  evaluation).

## One piece of evidence

Every `evidence.<kind>` value is a map:

- `id` (string): the evidence id, reported in the outcome's `used` list.
- `kind` (string): the evidence kind as stored, e.g. `sast-scan`.
- `title` (string): one-line description.
- `verdict` (string): the parser's own verdict, `pass`, `fail` or `info`;
  `verdict_reason` (string) says why.
- `effective_at` (timestamp): when the evidence was produced (scan time, test run,
  build end).
- `received_at` (timestamp): when the portal received it.
- `age_days` (double): days from the earlier of `effective_at` and `received_at` to `now`
  (a date the sender chose never keeps evidence fresh longer).
- `subject_uri` (string): the artifact the evidence is about, the subject itself or
  an upstream artifact.
- `inherited` (bool): true when it was found upstream along lineage rather than on
  the subject (a deployment sees its image's SBOM and its commit's tests).
- `summary` (map): the parsed fields, per kind, as the ingest parsers produce them:
  - `test_report` (JUnit XML): `tests`, `passed`, `failed`, `errored`, `skipped`,
    `time_seconds`, `suites_total`, `failing_tests_total`.
  - `sast_scan` (SARIF): `results_total`, `by_level` (`error`, `warning`, `note`,
    `none`), `by_severity` (`critical`, `high`, `medium`, `low`, `none`: normalised
    across scanners, see below), `high_severity` (results of normalised severity high
    or critical), `security_severity_high` (results whose own security-severity is
    >= 7.0, the tool's value before normalising), `suppressed`, `baseline_absent`,
    `rules_total`, `rules` (the rules the scan reported), `tools`.
  - `sbom` (CycloneDX or SPDX): CycloneDX has `components_total`,
    `components_without_license`, `main_component`; SPDX has `packages_total`,
    `packages_without_license`; both have `licenses` (map of license to count).
  - `provenance` (in-toto Statements, DSSE envelopes, Sigstore bundles, PyPI
    attestations, in-toto links; SLSA): `verified` (bool: true only when the portal
    checked a signature against a key or Sigstore identity trusted for the system or
    source), `signer` (the trusted key or identity that verified, else ""), `reason`
    ("verified: ..." or "unverified: <why>"), `builder_id` (the builder of a verified
    statement, else ""), `claimed_builder_id` (what the statement says, verified or
    not), `build_type`, `signed` (bool: signatures present, checked or not),
    `signature_count`, `container`, `predicate_type`, `subjects_total`,
    `materials_total`; links add `step_name` and `command`.
  - `metrics`, `fairness`, `model_card` (metrics and fairness reports, model cards):
    `model`, `version`, `metrics` (map of name to number, e.g. `auc`), `fairness`
    (map, e.g. `demographic_parity_difference`), `violations`; a model card also has
    `metrics_total`.
  - `deployment`, `release`, `pipeline_run`, `check_run`, ... (GitHub and GitLab
    webhooks): see the parser of that event. `commit_status` (GitHub `status`
    events): `context`, `state` (success, failure, error, pending), `description`.
  - `infrastructure` (Terraform plan or state): `unencrypted`,
    `encrypted_without_customer_key` and `public` (lists of resource addresses),
    `tls_endpoints` (list of `{address, protocol, min_tls_version}`), `log_retention`
    (list of `{address, days}`), `regions` (map of region to resource count),
    `iam_wildcard_statements`, `findings` (list of `{address, type, issue}`).
  - `kubernetes_manifests`: `privileged`, `host_paths`, `host_namespaces`,
    `privilege_escalation_allowed`, `without_limits`, `not_pinned` (lists of
    `namespace/Kind/name:container`), `findings`.
  - `iac_scan` (Checkov): `passed`, `failed`, `failed_checks` (list of
    `{check_id, resource, file, lines}`).
  - `data_quality` (Great Expectations): `suite`, `success` (bool),
    `evaluated_expectations`, `unsuccessful_expectations`, `failed_expectations`.
  - `drift` (Evidently, PSI/KS): `dataset_drift` (bool), `share_of_drifted_columns`,
    `drifted_columns`, `max_psi` (number, or null when no PSI was computed).
  - `fairness` (also from Fairlearn MetricFrame exports): `fairness` (map, e.g.
    `demographic_parity_difference`, `equalized_odds_difference`), `difference`, `ratio`.
    A plain `MetricFrame.by_group` export carries only `by_group`; the parser computes
    `difference`, `ratio` and the fairness values it can from it and lists them in
    `computed`.
  - `data_version` (DVC): `datasets` (list of `{path, md5, size}`), `models`, `stages`.
  - `policy_decisions` (OPA decision logs): `decisions_total`, `by_outcome` (`allow`,
    `deny`, ...), `denied`.

## SARIF severity, normalised

Scanners say how bad a finding is in different places. Each SARIF result gets one
`severity` from the first source below that it carries; the result record keeps
`severity_source`, `severity_original` (the value as the tool wrote it) and, for
Bandit, `confidence`. A value that is not understood falls through to the next source.

1. `security-severity`, a CVSS-like score on the result, else on its rule: CodeQL, GitHub
   code scanning, Trivy, Grype, Snyk Open Source;
2. `issue_severity` on the result: Bandit (`issue_confidence` is kept as `confidence`);
3. the result's `level`, else its rule's `defaultConfiguration.level`, else `warning`:
   Semgrep, ESLint, ruff, Checkov, Snyk Code.

| source | critical | high | medium | low | none |
| --- | --- | --- | --- | --- | --- |
| 1. `security-severity` | >= 9.0 | 7.0 to 8.9 | 4.0 to 6.9 | 0.1 to 3.9 | 0.0 |
| 2. `issue_severity` | | `HIGH` | `MEDIUM` | `LOW` | |
| 3. `level` | | `error` | `warning` | `note` | `none` |

The score bands are GitHub code scanning's. A level of `error` counts as high because
that is where GitHub fails a check for results without a security severity; ruff and
Checkov write every finding as `error`, so each of their findings counts as high.
Suppressed results and results whose `baselineState` is `absent` are counted in
`by_severity` and `high_severity` like the others, but do not make the parser's verdict
fail.

## Artifacts and systems as subjects

A rule whose selector names `artifact_kinds` judges every artifact of those kinds on its
own. A rule without `artifact_kinds` judges each system as a whole (infrastructure,
assessments, monitoring): then `subject.kind` is `system`, `evidence` holds the system's
latest evidence of each kind whatever artifact it is about, `lineage` is empty, and
`system.environment` is the system's most production-like environment.

## Rules, `requires` and missing evidence

A rule lists the evidence kinds it `requires` (kind names with `-` or `_`, and the
special name `baseline` for the production model's metrics). When one is absent the
outcome is **missing** and the expression is not run, so "no scan uploaded" is never
confused with "the scan failed". Inside an expression, `has(evidence.sbom)` tests for
an optional kind and `has(evidence.sbom.summary.components_total)` for an optional field.

Reading a key that is not there, comparing a string with a number, or producing
something other than `true`/`false` gives the outcome **error**, with a message; an
error counts as not passed so a hard gate fails closed.

## What is checked when a rule is saved

The field lists above are also data: `FACT_SCHEMA` in `apps/policy/engine.py`, which the
editor and every save check a rule's field paths against (a test keeps every name of it on
this page).

- Where the model is closed (`subject`, `system`, `lineage`, `baseline`, the fields of one
  piece of evidence such as `summary` or `age_days`), an unknown field is refused with the
  nearest known name: `evidence.sast_scan.summry` is an error ("did you mean 'summary'?"),
  and so is reading a field of a plain value (`subject.uri.host`).
- Where it is open (evidence kinds, the fields of a `summary`, which depend on the parser),
  an unknown name is a warning: the rule saves, and its result is an error wherever the field
  is absent, unless guarded with `has()`.

A rule's cost is bounded too. A comprehension (`all`, `exists`, `exists_one`, `map`,
`filter`) runs its body once per element, so nested ones multiply: at most 2 may be nested,
brackets at most 12 deep, and an expression is at most 1000 characters. At run time each
rule has a time budget per evaluation batch of up to 200 subjects
(`PORTAL_POLICY_RULE_BUDGET_MS`, 5000 ms by default): a rule that exceeds it fails its
results in that batch with "evaluation exceeded its time budget of N ms".

## Helper functions

Besides CEL's standard functions and macros (`size`, `has`, `exists`, `all`,
`exists_one`, `map`, `filter`, `in`, `startsWith`, `endsWith`, `contains`, `matches`,
`timestamp`, `duration`, `int`, `double`, `string`):

| function | meaning |
| --- | --- |
| `age_days(t)` | days from timestamp (or ISO 8601 string) `t` to `now`, as a double |
| `distinct(list)` / `list.distinct()` | the list without repeated elements, first occurrence kept |

Numbers: `1 == 1.0` and `2 < 2.5` work, but arithmetic does not mix types (`1 + 2.5` is
an error): write `1.0 + 2.5` or `double(x) + 2.5`.

## Examples

```cel
// no SARIF result of normalised severity high or critical in the last scan (requires: sast-scan)
evidence.sast_scan.summary.high_severity == 0

// tests ran and none failed (requires: test-report)
evidence.test_report.summary.tests > 0
  && evidence.test_report.summary.failed + evidence.test_report.summary.errored == 0

// a security scan at most 30 days old (requires: sast-scan)
evidence.sast_scan.age_days <= 30.0

// demographic parity difference under 0.05 and AUC no more than 0.02 below production
// (requires: fairness, baseline)
evidence.fairness.summary.fairness.demographic_parity_difference < 0.05
  && evidence.fairness.summary.metrics.auc >= baseline.metrics.auc - 0.02

// two distinct approvers signed the release
size(approvals.map(a, a.approver).distinct()) >= 2
```
"""

# --- the fact model as data ------------------------------------------------------------
#
# FACT_SCHEMA is what the save-time path check reads (check_paths); FACT_MODEL_DOC above says the
# same in prose, and a test keeps every name here in that text. A dict is a closed map: a rule
# reading a key it does not list is refused. Open(...) is a map whose keys depend on the input
# (evidence kinds, a parser's summary fields, metric names): an unlisted key is only a warning.
# LEAF is a value without fields (a string, number, timestamp or list: `.x` on it is refused);
# ANY is not checked further (maps whose shape is the parser's, see its module).


class Open(dict):
    """A map whose keys depend on the input: unknown keys warn instead of failing."""

    def __init__(self, fields=None, *, what: str, default=None):
        super().__init__(fields or {})
        self.what = what
        self.default = default  # the schema of a key it does not list


LEAF = "leaf"
ANY = "any"


def _summary(*names: str) -> Open:
    return Open(dict.fromkeys(names, ANY), what="summary field")


SUMMARY_FIELDS = {
    "test_report": _summary(
        "tests", "passed", "failed", "errored", "skipped", "time_seconds", "suites_total", "failing_tests_total"
    ),
    "sast_scan": _summary(
        "results_total",
        "by_level",
        "by_severity",
        "high_severity",
        "security_severity_high",
        "suppressed",
        "baseline_absent",
        "rules_total",
        "rules",
        "tools",
    ),
    "sbom": _summary(
        "components_total",
        "components_without_license",
        "main_component",
        "packages_total",
        "packages_without_license",
        "licenses",
    ),
    "provenance": _summary(
        "verified",
        "signer",
        "reason",
        "builder_id",
        "claimed_builder_id",
        "build_type",
        "signed",
        "signature_count",
        "container",
        "predicate_type",
        "subjects_total",
        "materials_total",
        "step_name",
        "command",
    ),
    "commit_status": _summary("context", "state", "description"),
    "metrics": _summary("model", "version", "metrics", "fairness", "violations"),
    "fairness": _summary(
        "model", "version", "metrics", "fairness", "violations", "difference", "ratio", "computed"
    ),
    "model_card": _summary("model", "version", "metrics", "fairness", "violations", "metrics_total"),
    "infrastructure": _summary(
        "unencrypted",
        "encrypted_without_customer_key",
        "public",
        "tls_endpoints",
        "log_retention",
        "regions",
        "iam_wildcard_statements",
        "findings",
    ),
    "kubernetes_manifests": _summary(
        "privileged",
        "host_paths",
        "host_namespaces",
        "privilege_escalation_allowed",
        "without_limits",
        "not_pinned",
        "findings",
    ),
    "iac_scan": _summary("passed", "failed", "failed_checks"),
    "data_quality": _summary(
        "suite", "success", "evaluated_expectations", "unsuccessful_expectations", "failed_expectations"
    ),
    "drift": _summary("dataset_drift", "share_of_drifted_columns", "drifted_columns", "max_psi"),
    "data_version": _summary("datasets", "models", "stages"),
    "policy_decisions": _summary("decisions_total", "by_outcome", "denied"),
}
# Kinds whose summary is the parser's own (webhook events, assessments): read as ANY.
OTHER_EVIDENCE_KINDS = (
    "deployment",
    "release",
    "pipeline_run",
    "check_run",
    "check_suite",
    "job",
    "run",
    "push",
    "approval",
    "registry_event",
    "tag_move",
    "lineage_run",
    "lineage_static",
    "dpia",
    "risk_assessment",
    "validation_report",
    "generic",
)


def _evidence_item(summary) -> dict:
    return {
        "id": LEAF,
        "kind": LEAF,
        "title": LEAF,
        "verdict": LEAF,
        "verdict_reason": LEAF,
        "effective_at": LEAF,
        "age_days": LEAF,
        "subject_uri": LEAF,
        "inherited": LEAF,
        "summary": summary,
    }


FACT_SCHEMA = {
    "subject": {"kind": LEAF, "uri": LEAF, "digest": LEAF, "name": LEAF},
    "system": {
        "slug": LEAF, "name": LEAF, "kind": LEAF, "risk_tier": LEAF, "data_classes": LEAF, "frameworks": LEAF,
        "environment": LEAF, "allowed_regions": LEAF, "log_retention_days": LEAF,
    },
    "evidence": Open(
        {
            **{kind: _evidence_item(summary) for kind, summary in SUMMARY_FIELDS.items()},
            **{kind: _evidence_item(ANY) for kind in OTHER_EVIDENCE_KINDS},
        },
        what="evidence kind",
        default=_evidence_item(ANY),
    ),
    "lineage": {"has_provenance_chain": LEAF, "builders": LEAF, "upstream_kinds": LEAF, "commit": LEAF},
    "approvals": LEAF,  # a list: read it with size(), exists(), all(), map() ...
    "baseline": {
        "version": LEAF, "subject_uri": LEAF, "evidence_id": LEAF,
        "metrics": ANY, "fairness": ANY,  # keyed by metric name, whatever the model reports
    },
    "now": LEAF,
}  # fmt: skip


def schema_field_names() -> set[str]:
    """Every field name FACT_SCHEMA lists (for the test that keeps FACT_MODEL_DOC complete)."""
    names: set[str] = set()

    def walk(node, depth: int) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if depth != 1 or node is not FACT_SCHEMA["evidence"]:  # kinds are documented as a family
                    names.add(key)
                walk(child, depth + 1)

    walk(FACT_SCHEMA, 0)
    return names


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _closest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_SEGMENT_RE = re.compile(r"\.\s*([A-Za-z_]\w*)|\[\s*(?:'([^']*)'|\"([^\"]*)\")\s*\]")


def check_paths(expression: str, scan: str) -> tuple[str, ...]:
    """Check every fact path the expression reads against FACT_SCHEMA.

    Raises RuleSyntaxError (pointing at the field) for a key a closed map does not have, or a field
    read on a value that has none; returns warnings for keys an open map does not list."""
    warnings: list[str] = []
    for match in _PATH_RE.finditer(scan):
        root = match.group(1)
        node = FACT_SCHEMA[root]
        label = root
        segments = list(_SEGMENT_RE.finditer(expression, match.start(2), match.end(2)))
        if segments and re.match(r"\s*\(", scan[match.end() :]):
            segments = segments[:-1]  # a method call on the value (x.startsWith(...), list.exists(...))
        for seg in segments:
            key = seg.group(1) or seg.group(2) or seg.group(3) or ""
            if node == ANY:
                break
            if node == LEAF:
                line, column = _position_of(expression, seg.start())
                raise RuleSyntaxError(
                    f"{label} has no fields: it is a value (text, number, timestamp or list), so .{key} "
                    "cannot be read from it",
                    line=line, column=column, expression=expression,
                )  # fmt: skip
            if key in node:
                node = node[key]
            elif isinstance(node, Open):
                warnings.append(
                    f"{label}.{key}: {key!r} is not a known {node.what} of the fact model{_closest(key, node)}. "
                    "Where it is absent the rule's result is an error: check the spelling, or guard it with has()."
                )
                node = node.default if node.default is not None else ANY
            else:
                start = seg.start(1) if seg.group(1) else seg.start()
                line, column = _position_of(expression, start)
                raise RuleSyntaxError(
                    f"{label} has no field {key!r}{_suggest(key, node)} (its fields are {', '.join(node)})",
                    line=line, column=column, expression=expression,
                )  # fmt: skip
            label = f"{label}.{key}"
    return tuple(dict.fromkeys(warnings))


# cel logs a WARNING each time a helper function raises; evaluate() already turns that into an
# "error" outcome with the same message, so a broken rule re-run nightly over every subject
# would only flood the worker log. Errors from the library itself still get through.
logging.getLogger("cel").setLevel(logging.ERROR)

MAX_EXPRESSION_LENGTH = 2000  # deeper nesting than this allows can overflow the native parser's stack
# Cost limits checked when a rule is saved (compile_rule(saving=True)). A comprehension
# (all, exists, exists_one, map, filter) runs its body once per element, so k nested ones over
# lists of n elements cost n**k: five levels over 17 builders took 0.7 to 1.3 s per subject.
# Two levels (e.g. "every endpoint's TLS version is in an allowed list") is all the shipped rules
# need. The run-time budget (evaluate_bounded) catches what stays expensive on large facts.
MAX_RULE_LENGTH = 1000
MAX_COMPREHENSION_DEPTH = 2
MAX_BRACKET_DEPTH = 12
FACT_NAMES = ("subject", "system", "evidence", "lineage", "approvals", "baseline", "now")
BASELINE = "baseline"  # the one `requires` name that is not an evidence kind

# Functions a rule may call: CEL's standard library as cel-rust implements it, and ours.
KNOWN_FUNCTIONS = frozenset(
    {
        "size", "has", "int", "uint", "double", "string", "bytes", "bool", "dyn", "type",
        "timestamp", "duration", "matches", "contains", "startsWith", "endsWith",
        "exists", "all", "exists_one", "map", "filter", "max", "min",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
        "age_days", "distinct",
    }
)  # fmt: skip

_POSITION_RE = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_EXPECTING_RE = re.compile(r"expecting \{[^}]*\}")
_STRING_RE = re.compile(r"""(?s)[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""")
_COMPREHENSION_RE = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*$")
_BOUND_RE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_EVIDENCE_REF_RE = re.compile(r"\bevidence\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(['\"])([^'\"]*)\2\s*\])")
_PATH_RE = re.compile(
    r"(?<![\w.])(" + "|".join(FACT_NAMES) + r")((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])*)"
)


class RuleSyntaxError(ValueError):
    """A rule expression does not compile; `line` and `column` (1-based) point at the problem."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1, expression: str = ""):
        self.message = message
        self.line = line
        self.column = column
        self.expression = expression
        super().__init__(f"line {line}, column {column}: {message}")

    def as_dict(self) -> dict:
        """What an editor needs to underline the problem while the user types."""
        return {"message": self.message, "line": self.line, "column": self.column}


@dataclass(frozen=True)
class CompiledRule:
    """A parsed expression, ready to run over many fact sets."""

    expression: str
    requires: tuple[str, ...]  # normalized: evidence keys with "_", plus possibly "baseline"
    evidence_keys: tuple[str, ...]  # evidence kinds the expression reads (for `used`); ("*",) if any
    program: object = field(repr=False, compare=False)
    # fact paths the expression reads, (label, root, keys), for the outcome's reason
    fact_paths: tuple[tuple[str, str, tuple[str, ...]], ...] = field(default=(), repr=False, compare=False)
    # paths the fact model does not list where it is open (an unknown summary field, evidence kind)
    warnings: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule said about one subject."""

    status: str  # "pass" | "fail" | "missing" | "error"; rulesets adds "not-applicable"
    passed: bool | None  # True, False, or None when evidence is missing
    reason: str
    used: list[str] = field(default_factory=list)  # ids of the evidence the rule read
    missing: list[str] = field(default_factory=list)  # required kinds that were absent
    message: str = ""  # the rule's plain-language failure message, facts filled in (rulesets)


def _key(kind: str) -> str:
    return kind.strip().replace("-", "_")


def _position_of(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column


def _friendly(message: str) -> str:
    """Shorten ANTLR's wording into something a person can act on while typing."""
    message = message.removeprefix("Syntax error: ")
    if "mismatched input '<EOF>'" in message:
        return "the expression ends too early: a value, name or closing bracket is expected here"
    if message.startswith("token recognition error at: '"):
        bad = message[len("token recognition error at: '") :].rstrip("'")
        if bad[:1] in ("'", '"'):
            return "a string is not closed: add the matching quote"
        return f"unexpected character {bad[:1]!r}"
    match = _EXPECTING_RE.search(message)
    if match and match.group(0).count(",") >= 6:
        message = message[: match.start()].rstrip() + ": a value or a name is expected here"
    elif match:
        message = message[: match.start()].rstrip() + ": expected one of " + match.group(0)[len("expecting ") :]
    message = message.replace(" expecting <EOF>", ": the expression should end here (is an operator missing?)")
    message = message.replace(" at '<EOF>'", " at the end")
    return message.replace("extraneous input", "unexpected").replace("mismatched input", "unexpected")


def _blank_strings(source: str) -> str:
    """The source with string literals replaced by spaces (same length), for regex scans."""
    return _STRING_RE.sub(lambda m: '""'.ljust(len(m.group(0))), source)


def _check_cost(expression: str, scan: str) -> None:
    """Refuse rules whose cost can explode: too long, too deeply nested (see MAX_COMPREHENSION_DEPTH)."""
    if len(expression) > MAX_RULE_LENGTH:
        line, column = _position_of(expression, MAX_RULE_LENGTH)
        raise RuleSyntaxError(
            f"the expression is longer than {MAX_RULE_LENGTH} characters; split it into several rules",
            line=line,
            column=column,
            expression=expression,
        )
    stack: list[bool] = []  # one entry per open bracket: True when it opens a comprehension
    for index, char in enumerate(scan):
        if char in "([{":
            comprehension = char == "(" and bool(_COMPREHENSION_RE.search(scan[max(0, index - 30) : index]))
            stack.append(comprehension)
            line, column = _position_of(expression, index)
            if comprehension and sum(stack) > MAX_COMPREHENSION_DEPTH:
                raise RuleSyntaxError(
                    f"comprehensions (all, exists, exists_one, map, filter) are nested {sum(stack)} deep here; "
                    f"at most {MAX_COMPREHENSION_DEPTH} are allowed, because each level multiplies the cost by "
                    "the length of its list: split the rule or compare with a precomputed fact",
                    line=line,
                    column=column,
                    expression=expression,
                )
            if len(stack) > MAX_BRACKET_DEPTH:
                raise RuleSyntaxError(
                    f"the expression nests brackets {len(stack)} deep here; at most {MAX_BRACKET_DEPTH} "
                    "are allowed: split it into several rules",
                    line=line,
                    column=column,
                    expression=expression,
                )
        elif char in ")]}" and stack:
            stack.pop()


def compile_rule(expression: str, *, requires: Iterable[str] = (), saving: bool = True) -> CompiledRule:
    """Parse a rule expression; raise RuleSyntaxError (with line and column) when it is not valid.

    `saving` applies the save-time checks: cost limits (length, nesting) and field paths against
    FACT_SCHEMA. Stored rules (written before a check existed) are compiled with saving=False:
    they are bounded by the run-time budget, and a wrong path only becomes a warning here (the
    rule's results are errors at run time, which fail closed)."""
    if not isinstance(expression, str):
        raise RuleSyntaxError(f"the expression must be text, got {type(expression).__name__}")
    if not expression.strip():
        raise RuleSyntaxError("the expression is empty: write a condition such as subject.kind == 'image'")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        line, column = _position_of(expression, MAX_EXPRESSION_LENGTH)
        raise RuleSyntaxError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters; split it into several rules",
            line=line,
            column=column,
            expression=expression,
        )
    if "\x00" in expression:
        line, column = _position_of(expression, expression.index("\x00"))
        raise RuleSyntaxError("the text contains a NUL character", line=line, column=column, expression=expression)
    try:
        program = cel.compile(expression)
    except ValueError as exc:
        text = str(exc)
        prefix = f"Failed to parse expression '{expression}': "
        details = text[len(prefix) :] if text.startswith(prefix) else text
        errors = list(_POSITION_RE.finditer(details))
        # cel-rust sometimes reports an internal complaint first; the parser's own message is clearer
        match = next((m for m in errors if m.group(3).startswith("Syntax error")), errors[0] if errors else None)
        if match:
            raise RuleSyntaxError(
                _friendly(match.group(3)), line=int(match.group(1)), column=int(match.group(2)), expression=expression
            ) from None
        raise RuleSyntaxError(_friendly(details.strip() or "not a valid expression"), expression=expression) from None
    except Exception as exc:  # noqa: BLE001 - the contract is RuleSyntaxError or a program
        raise RuleSyntaxError(f"not a valid expression ({type(exc).__name__})", expression=expression) from None

    scan = _blank_strings(expression)
    if saving:
        _check_cost(expression, scan)
    _check_names(program, expression, scan)
    try:
        warnings = check_paths(expression, scan)
    except RuleSyntaxError as exc:
        if saving:
            raise
        warnings = (exc.message,)
    required = []
    for item in requires:
        if not isinstance(item, str) or not item.strip():
            raise RuleSyntaxError(f"requires: {item!r} is not an evidence kind", expression=expression)
        key = _key(item)
        if key not in required:
            required.append(key)
    return CompiledRule(
        expression=expression,
        requires=tuple(required),
        evidence_keys=_evidence_keys(expression, scan),
        program=program,
        fact_paths=_fact_paths(expression, scan),
        warnings=warnings,
    )


def _check_names(program, expression: str, scan: str) -> None:
    """Unknown names and functions are compile errors here, not surprises at run time."""
    bound = set(_BOUND_RE.findall(scan))
    for name in program.variables():
        if name in FACT_NAMES or name in bound:
            continue
        match = re.search(rf"(?<![\w.]){re.escape(name)}\b", scan)
        line, column = _position_of(expression, match.start()) if match else (1, 1)
        raise RuleSyntaxError(
            f"unknown name {name!r}: a rule can use {', '.join(FACT_NAMES)}",
            line=line,
            column=column,
            expression=expression,
        )
    for name in program.functions():
        if name in KNOWN_FUNCTIONS or not name[:1].isalpha():  # operators look like _+_, !_, @in
            continue
        match = re.search(rf"\b{re.escape(name)}\s*\(", scan)
        line, column = _position_of(expression, match.start()) if match else (1, 1)
        raise RuleSyntaxError(f"unknown function {name!r}", line=line, column=column, expression=expression)


def _evidence_keys(expression: str, scan: str) -> tuple[str, ...]:
    keys: list[str] = []
    matches = 0
    for match in _EVIDENCE_REF_RE.finditer(expression):
        if not scan.startswith("evidence", match.start()):  # inside a string literal
            continue
        if match.group(1) and re.match(r"\s*\(", scan[match.end() :]):  # a method on the whole map
            continue
        if match.group(3) is not None and "-" in match.group(3):
            line, column = _position_of(expression, match.start(3))
            raise RuleSyntaxError(
                f"evidence kinds are written with _ in rules: use evidence.{_key(match.group(3))}",
                line=line,
                column=column,
                expression=expression,
            )
        matches += 1
        key = _key(match.group(1) or match.group(3))
        if key not in keys:
            keys.append(key)
    uses = len(re.findall(r"(?<![\w.])evidence\b", scan))
    if uses > matches:  # `evidence` used as a whole (e.g. evidence.exists(...), evidence[k]): it may read any kind
        return ("*",)
    return tuple(keys)


# --- facts --------------------------------------------------------------------------


def _as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value:
        raw = value.strip()
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _plain(value):
    """Facts as CEL can take them: tuples to lists, sets sorted, non-finite floats dropped."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return _as_datetime(value)
    return value


class Facts:
    """Facts for one subject, prepared once and reused by every rule evaluated on it."""

    __slots__ = ("context", "data", "now")

    def __init__(self, facts: Mapping | None = None):
        facts = dict(facts or {})
        now = _as_datetime(facts.get("now")) or datetime.now(UTC)
        evidence = {}
        for kind, item in (facts.get("evidence") or {}).items():
            if not isinstance(item, Mapping):
                continue
            item = _plain(item)
            item.setdefault("kind", kind)
            item.setdefault("summary", {})
            if "id" in item and item["id"] is not None:
                item["id"] = str(item["id"])
            effective = _as_datetime(item.get("effective_at"))
            if effective is not None:
                item["effective_at"] = effective
                item.setdefault("age_days", round((now - effective).total_seconds() / 86400, 4))
            evidence[_key(kind)] = item
        approvals = []
        for row in facts.get("approvals") or []:
            row = _plain(row)
            if isinstance(row, dict) and "at" in row:
                row["at"] = _as_datetime(row["at"]) or row["at"]
            approvals.append(row)
        lineage = {"has_provenance_chain": False, "builders": [], "upstream_kinds": [], "commit": ""}
        lineage.update(_plain(facts.get("lineage") or {}))
        data = {
            **{k: _plain(v) for k, v in facts.items() if k not in FACT_NAMES},
            "subject": _plain(facts.get("subject") or {}),
            "system": _plain(facts.get("system") or {}),
            "evidence": evidence,
            "lineage": lineage,
            "approvals": approvals,
            "baseline": _plain(facts.get("baseline") or {}),
            "now": now,
        }
        self.data = data
        self.now = now
        context = cel.Context()
        for name, value in data.items():
            context.add_variable(name, value)
        context.add_function("age_days", self._age_days)
        context.add_function("distinct", _distinct)
        self.context = context

    def _age_days(self, value) -> float:
        moment = _as_datetime(value)
        if moment is None:
            raise ValueError(f"age_days() needs a timestamp or an ISO 8601 date-time, got {value!r}")
        return (self.now - moment).total_seconds() / 86400

    def has_requirement(self, key: str) -> bool:
        if key == BASELINE:
            return bool(self.data["baseline"])
        return key in self.data["evidence"]

    def evidence_ids(self, keys: Iterable[str]) -> list[str]:
        evidence = self.data["evidence"]
        if "*" in keys:
            keys = list(evidence)
        ids = []
        for key in keys:
            source = self.data["baseline"] if key == BASELINE else (evidence.get(key) or {})
            ev_id = source.get("evidence_id" if key == BASELINE else "id")
            if ev_id not in (None, "") and str(ev_id) not in ids:
                ids.append(str(ev_id))
        return ids


def _distinct(values):
    if not isinstance(values, list):
        raise TypeError(f"distinct() needs a list, got {type(values).__name__}")
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def prepare_facts(facts: Mapping | Facts | None) -> Facts:
    """Normalize a subject's facts once (see FACT_MODEL_DOC); pass the result to evaluate()."""
    return facts if isinstance(facts, Facts) else Facts(facts)


# --- evaluation ---------------------------------------------------------------------


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:59] + "…")
    if isinstance(value, list):
        # Short lists are spelled out, so that a reason names what failed (e.g. the resource
        # addresses of unencrypted buckets); long ones show their first items and a count.
        count = f"{len(value)} item{'s' if len(value) != 1 else ''}"
        if not value:
            return "[0 items]"
        shown, width = [], 0
        for item in value:
            text = _show_item(item)
            if shown and width + len(text) > 200:
                break
            shown.append(text)
            width += len(text) + 2
        more = "" if len(shown) == len(value) else f", … ({count})"
        return "[" + ", ".join(shown) + more + "]"
    if isinstance(value, dict):
        return f"{{{len(value)} field{'s' if len(value) != 1 else ''}}}"
    return str(value)


def _show_item(value) -> str:
    """One element of a list in a reason: scalars as themselves, small maps inline."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_show(v)}" for k, v in list(value.items())[:4])
        return "{" + inner + (", …" if len(value) > 4 else "") + "}"
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    return _show(value)


_ABSENT = object()


def _fact_paths(expression: str, scan: str, limit: int = 4) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The first few fact paths an expression reads, found once at compile time."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for match in _PATH_RE.finditer(scan):
        root, path = match.group(1), re.sub(r"\s+", "", expression[match.start(2) : match.end(2)])
        if root == "now":
            continue
        # a path that continues into a method call (x.startsWith(...)) shows its receiver
        if re.match(r"\s*\(", scan[match.end() :]) and "." in path:
            path = path[: path.rfind(".")]
        label = root + path
        if label in seen:
            continue
        seen.add(label)
        keys = tuple(
            m.group(1) or m.group(2) or m.group(3) or ""
            for m in re.finditer(r"\.([A-Za-z_]\w*)|\[(?:'([^']*)'|\"([^\"]*)\")\]", path)
        )
        found.append((label, root, keys))
        if len(found) >= limit:
            break
    return tuple(found)


def _explain(compiled: CompiledRule, facts: Facts) -> str:
    """The fact values the expression read, e.g. `evidence.sast_scan.summary.high_severity = 3`."""
    shown: list[str] = []
    for label, root, keys in compiled.fact_paths:
        value = facts.data.get(root, _ABSENT)
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                value = _ABSENT
                break
            value = value[key]
        shown.append(f"{label} = {'absent' if value is _ABSENT else _show(value)}")
    return "; ".join(shown)


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return (
            f"no field {key!r} in the facts: check the spelling, list the evidence kind in requires, "
            "or guard it with has()"
        )
    text = " ".join(str(exc).split())
    if isinstance(exc, TypeError) and "No such overload" in text:
        text = "no such overload for these operand types (CEL does not coerce between int, double and string)"
    return text[:300] or type(exc).__name__


def evaluate(compiled: CompiledRule, facts: Mapping | Facts | None) -> RuleOutcome:
    """Run one compiled rule over one subject's facts. Never raises for anything the facts hold."""
    prepared = prepare_facts(facts)
    missing = [key for key in compiled.requires if not prepared.has_requirement(key)]
    if missing:
        words = [
            "no production baseline to compare with" if key == BASELINE else f"no {key.replace('_', '-')} evidence"
            for key in missing
        ]
        return RuleOutcome(
            status="missing",
            passed=None,
            reason="missing evidence: " + ", ".join(words),
            used=prepared.evidence_ids([k for k in compiled.requires if k not in missing]),
            missing=[BASELINE if key == BASELINE else key.replace("_", "-") for key in missing],
        )
    used = prepared.evidence_ids([*compiled.requires, *compiled.evidence_keys])
    try:
        value = compiled.program.execute(prepared.context)
    except Exception as exc:  # noqa: BLE001 - any evaluation failure becomes an "error" outcome
        return RuleOutcome(status="error", passed=False, reason=f"could not evaluate: {_error_reason(exc)}", used=used)
    if not isinstance(value, bool):
        return RuleOutcome(
            status="error",
            passed=False,
            reason=f"the expression produced {_show(value)} ({type(value).__name__}), not true or false",
            used=used,
        )
    detail = _explain(compiled, prepared)
    suffix = f": {detail}" if detail else ""
    if value:
        return RuleOutcome(status="pass", passed=True, reason="satisfied" + suffix, used=used)
    return RuleOutcome(status="fail", passed=False, reason="not satisfied" + suffix, used=used)


# --- bounded evaluation ----------------------------------------------------------------
#
# cel-rust runs a program to the end while holding the GIL: no thread, signal or callback of this
# process can stop it (a variable resolver's exception is logged and ignored). So a batch is
# evaluated in a forked child process that streams one frame per rule, and the parent kills the
# child when a rule's budget runs out: that rule's outcomes become errors saying so, and a new
# child carries on with the next rule. Fork shares the prepared facts and compiled programs
# without copying or pickling them; only the outcomes travel back. The child touches no database
# connection and leaves with os._exit(), so nothing of the parent is closed or flushed twice.
# Outcomes travel as JSON lists.

_FRAME = struct.Struct("!I")


def budget_reason(budget_ms: int) -> str:
    """The reason a rule's results carry when it ran out of time."""
    return f"evaluation exceeded its time budget of {budget_ms} ms"


def _outcome_row(outcome: RuleOutcome) -> list:
    """An outcome as JSON for the pipe (plain lists decode much faster than pickled dataclasses)."""
    return [outcome.status, outcome.passed, outcome.reason, outcome.used, outcome.missing, outcome.message]


def _child_run(jobs, start: int, run, write_fd: int) -> None:
    try:
        for index in range(start, len(jobs)):
            rule, facts = jobs[index]
            row = [_outcome_row(run(rule, f)) for f in facts]
            data = json.dumps([index, row], separators=(",", ":")).encode()
            payload = _FRAME.pack(len(data)) + data
            view = memoryview(payload)
            while view:
                written = os.write(write_fd, view)
                view = view[written:]
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close and reports the rule
        os._exit(1)
    os._exit(0)


def _read_frame(fd: int, buffer: bytearray, deadline: float) -> bytes | None:
    """The next frame from the child, None when it closed the pipe; TimeoutError at the deadline."""
    while True:
        if len(buffer) >= _FRAME.size:
            (size,) = _FRAME.unpack_from(buffer)
            if len(buffer) >= _FRAME.size + size:
                frame = bytes(buffer[_FRAME.size : _FRAME.size + size])
                del buffer[: _FRAME.size + size]
                return frame
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buffer.extend(chunk)


def evaluate_bounded(rules, facts, *, budget_ms: int, run=None) -> list[list[RuleOutcome]]:
    """Evaluate each rule over the facts, each rule within `budget_ms` for the whole batch.

    `rules` is a list of CompiledRule (run over every fact set) or of (rule, [facts]) jobs when
    each rule has its own subjects; `run(rule, facts)` defaults to evaluate(). Returns, per rule,
    its outcomes in the order of its facts. A rule that exceeds its budget gets an "error"
    outcome for every fact set, with budget_reason() as the reason; the other rules are unaffected."""
    run = run or evaluate
    jobs = [r if isinstance(r, tuple) else (r, list(facts)) for r in rules]
    out: list[list[RuleOutcome] | None] = [None] * len(jobs)
    budget = max(1, int(budget_ms)) / 1000
    start = 0
    while start < len(jobs):
        if not any(f for _, f in jobs[start:]):  # nothing to evaluate: no child needed
            for index in range(start, len(jobs)):
                out[index] = []
            break
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            # Short-lived: no cyclic collection, which would walk (and so copy) the parent's whole heap.
            gc.disable()
            os.close(read_fd)
            _child_run(jobs, start, run, write_fd)
        os.close(write_fd)
        buffer = bytearray()
        index = start
        try:
            while index < len(jobs):
                try:
                    frame = _read_frame(read_fd, buffer, time.monotonic() + budget)
                except TimeoutError:
                    reason = budget_reason(budget_ms)
                    out[index] = [RuleOutcome(status="error", passed=False, reason=reason) for _ in jobs[index][1]]
                    index += 1
                    break
                if frame is None:  # the child died (out of memory, a crash in the library)
                    reason = "evaluation stopped unexpectedly (the evaluating process ended)"
                    out[index] = [RuleOutcome(status="error", passed=False, reason=reason) for _ in jobs[index][1]]
                    index += 1
                    break
                done, row = json.loads(frame)
                out[done] = [RuleOutcome(*item) for item in row]
                index = done + 1
        finally:
            os.close(read_fd)
            with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        start = index
    return [row if row is not None else [] for row in out]


# --- failure messages ------------------------------------------------------------------
#
# A rule's `message` is plain text with placeholders naming fact paths, e.g.
# "{evidence.sast_scan.summary.by_level.error} error-level findings in the latest static
# analysis scan; at most 0 allowed". Rendering only looks keys up in the facts' maps: no
# attribute access, no calls, no expressions, so a template cannot reach anything but facts.
# `{path|count}` gives the size of a list or map, `{path|days}` a whole number of days.

MAX_MESSAGE_LENGTH = 500
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_BODY_RE = re.compile(r"^\s*([a-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\|\s*(count|days))?\s*$")


def check_message(template: str, *, saving: bool = True) -> tuple[str, ...]:
    """Validate a failure message template; RuleSyntaxError for a bad placeholder, warnings as for paths."""
    if not isinstance(template, str):
        raise RuleSyntaxError("the message must be text")
    if len(template) > MAX_MESSAGE_LENGTH:
        raise RuleSyntaxError(f"the message is longer than {MAX_MESSAGE_LENGTH} characters")
    if "\n" in template.strip():
        raise RuleSyntaxError("the message must be one line")
    warnings: list[str] = []
    for match in _PLACEHOLDER_RE.finditer(template):
        body = _PLACEHOLDER_BODY_RE.match(match.group(1))
        if not body or body.group(1).split(".")[0] not in FACT_SCHEMA:
            raise RuleSyntaxError(
                f"message: {match.group(0)} is not a placeholder; write a fact path such as "
                "{evidence.sast_scan.summary.high_severity}, optionally with |count or |days",
                column=match.start() + 1,
            )
        path = body.group(1)
        try:
            warnings.extend(check_paths(path, path))
        except RuleSyntaxError as exc:
            if saving:
                raise RuleSyntaxError(f"message: {exc.message}", column=match.start() + 1) from None
            warnings.append(f"message: {exc.message}")
    if template.count("{") != len(_PLACEHOLDER_RE.findall(template)):
        raise RuleSyntaxError("message: a { is not closed, or braces are nested")
    return tuple(warnings)


def _lookup(data: dict, path: str):
    value = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _plain_text(value) -> str:
    """A fact value as words: numbers as numbers, lists spelled out (the first few), no quotes."""
    if value is _ABSENT or value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dict):
        value = list(value)  # a map reads as its keys (regions, outcomes)
    if isinstance(value, list):
        if not value:
            return "none"
        items = []
        for item in value[:5]:
            if isinstance(item, dict):
                item = next((item[k] for k in ("address", "id", "name", "path") if k in item), None) or _show_item(item)
            items.append(_plain_text(item) if not isinstance(item, str) else item)
        more = f" and {len(value) - 5} more" if len(value) > 5 else ""
        return ", ".join(items) + more
    return str(value)


def render_message(template: str, facts: Facts) -> str:
    """The failure message with the facts filled in (unknown values read "unknown")."""

    def fill(match: re.Match) -> str:
        body = _PLACEHOLDER_BODY_RE.match(match.group(1))
        if not body:
            return match.group(0)
        value = _lookup(facts.data, body.group(1))
        if body.group(2) == "count":
            return str(len(value)) if isinstance(value, (list, dict)) else "unknown"
        if body.group(2) == "days":
            return str(math.floor(value)) if isinstance(value, (int, float)) and math.isfinite(value) else "unknown"
        return _plain_text(value)

    return " ".join(_PLACEHOLDER_RE.sub(fill, template or "").split())[:1000]
