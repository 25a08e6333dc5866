"""The fact model as text (FACT_MODEL_DOC) and as data (FACT_SCHEMA), and the field-path check made on save."""

from __future__ import annotations

import difflib
import re

from apps.policy.engine.base import _PATH_RE, RuleSyntaxError, _position_of

FACT_MODEL_DOC = """\
# Policy fact model

A rule is a [CEL](https://cel.dev) expression that must evaluate to `true` (pass) or
`false` (fail) for one *subject*: a commit, image, model version, release or
deployment. The policy app builds the facts below for each subject and evaluates every
applicable rule over them. The engine lives in `apps/policy/engine/`; this page is
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

The field lists above are also data: `FACT_SCHEMA` in `apps/policy/engine/schema.py`, which the
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
