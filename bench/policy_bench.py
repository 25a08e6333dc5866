"""Rule engine throughput: the default CEL rule set against the same checks as Python lambdas.

Run ``python bench/policy_bench.py`` (or through ``make bench``). ``run()`` returns rows
``{"name", "value", "unit", "baseline", "baseline_unit", "ratio"}``. Values are rates
(higher is better) and ``ratio = value / baseline``; the baseline is the same checks
hand-written as plain Python lambdas over the same synthetic facts, in the same run, so
the ratio is what the expression language costs against code nobody could edit in the UI
(expect well below 1):

- ``rule_evaluations``: evaluations/s of every default rule over 500 synthetic subjects,
  facts prepared once per subject (how the evaluation task works), selectors included.
- ``rule_evaluations_cold``: the same, preparing the facts for every single rule (the
  cost of a dry run of one rule over many subjects).
- ``subjects_prepared``: subjects/s through prepare_facts() (turning a fact dict into a
  CEL context), against a deep copy of the same dict.
- ``rule_compiles``: compile_rule() calls/s for the default expressions, against
  Python's own compile() of the equivalent lambdas.
"""

from __future__ import annotations

import ast
import copy
import json
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from apps.policy.engine import compile_rule, prepare_facts  # noqa: E402
from apps.policy.rulesets import evaluate_rule, load_rule_set  # noqa: E402

SUBJECTS = 500
REPEATS = 3
NOW = datetime(2025, 6, 30, tzinfo=UTC)
KINDS = ("commit", "image", "release", "deployment", "model-version")
ALLOWED = (
    "https://github.com/slsa-framework/slsa-github-generator/",
    "https://github.com/actions/runner",
    "https://gitlab.com/gitlab-org/gitlab-runner",
    "https://cloudbuild.googleapis.com/GoogleHostedWorker",
)


def _at(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _build_evidence(rng: random.Random, i: int, evidence: dict) -> None:
    """Evidence of the build and the model: scans, tests, SBOM, provenance, model reports (each may be absent)."""
    if rng.random() < 0.85:
        evidence["sast-scan"] = {
            "id": i * 10 + 1,
            "effective_at": _at(rng.uniform(0, 60)),
            "verdict": "pass",
            "summary": {
                "results_total": rng.randint(0, 40),
                "by_level": {"error": rng.choice([0, 0, 0, 2]), "warning": 3, "note": 1, "none": 0},
                "high_severity": rng.choice([0, 0, 0, 1]),
                "rules": [{"id": rng.choice(["py.sqli", "py.insecure-transport", "js.xss"]), "results": 1}],
            },
        }
    if rng.random() < 0.9:
        evidence["test-report"] = {
            "id": i * 10 + 2,
            "effective_at": _at(rng.uniform(0, 5)),
            "summary": {"tests": rng.randint(0, 900), "failed": rng.choice([0, 0, 0, 3]), "errored": 0},
        }
    if rng.random() < 0.7:
        evidence["sbom"] = {
            "id": i * 10 + 3,
            "effective_at": _at(1),
            "summary": {"components_total": rng.randint(0, 400)},
        }
    if rng.random() < 0.6:
        builder = rng.choice([*ALLOWED, "https://jenkins.example/job/build"])
        signed = rng.random() < 0.8
        verified = signed and rng.random() < 0.9
        evidence["provenance"] = {
            "id": i * 10 + 4,
            "effective_at": _at(1),
            # the rules count a builder or a signature only when the portal verified the statement
            "summary": {"builder_id": builder + "x", "signed": signed, "signature_count": 1, "verified": verified,
                        "reason": "verified against a trusted key" if verified else "signature not verified"},
        }
    if rng.random() < 0.5:
        evidence["fairness"] = {
            "id": i * 10 + 5,
            "effective_at": _at(2),
            "summary": {
                "metrics": {"auc": rng.uniform(0.8, 0.9)},
                "fairness": {"demographic_parity_difference": rng.uniform(0, 0.08)},
            },
        }
    if rng.random() < 0.5:
        evidence["metrics"] = {"id": i * 10 + 6, "effective_at": _at(rng.uniform(0, 50)), "verdict": "pass"}
    if rng.random() < 0.3:
        evidence["model-card"] = {"id": i * 10 + 7, "effective_at": _at(9), "summary": {"metrics_total": 3}}


def _platform_evidence(rng: random.Random, i: int, evidence: dict) -> None:
    """Evidence of the platform and the data: infrastructure, manifests, policies, data checks (each may be absent)."""
    if rng.random() < 0.5:
        evidence["infrastructure"] = {
            "id": i * 10 + 8,
            "effective_at": _at(3),
            "summary": {
                "unencrypted": rng.choice([[], [], ["aws_s3_bucket.logs"]]),
                "encrypted_without_customer_key": rng.choice([[], ["aws_db_instance.main"]]),
                "tls_endpoints": [{"protocol": rng.choice(["HTTPS", "HTTPS", "HTTP"]),
                                   "min_tls_version": rng.choice(["1.2", "1.3", "1.0"])}],
                "regions": rng.choice([["eu-west-1"], ["eu-west-1", "us-east-1"], [""]]),
                "public": rng.choice([[], [], ["aws_s3_bucket.site"], ["aws_lb.front"]]),
                "log_retention": rng.choice([[], [{"days": 400}], [{"days": 30}], [{"days": 0}]]),
                "findings": rng.choice([[], [{"issue": "IAM statement allows s3:* on Resource '*'"}],
                                        [{"issue": "IAM statement allows * on bucket"}]]),
            },
        }
    if rng.random() < 0.3:
        evidence["kubernetes-manifests"] = {
            "id": i * 10 + 9,
            "effective_at": _at(2),
            "summary": {
                "privileged": rng.choice([[], [], ["pod/debug"]]),
                "host_paths": rng.choice([[], ["/var"]]),
            },
        }
    if rng.random() < 0.4:
        evidence["iac-scan"] = {
            "id": i * 10 + 10, "effective_at": _at(4), "summary": {"failed": rng.choice([0, 0, 2])}
        }
    if rng.random() < 0.3:
        evidence["policy-decisions"] = {
            "id": i * 10 + 11,
            "effective_at": _at(1),
            "summary": {"by_outcome": {"allow": 10, "deny": rng.choice([0, 0, 1])}},
        }
    if rng.random() < 0.4:
        evidence["data-quality"] = {
            "id": i * 10 + 12, "effective_at": _at(6), "summary": {"success": rng.random() < 0.8}
        }
    if rng.random() < 0.4:
        evidence["drift"] = {
            "id": i * 10 + 13,
            "effective_at": _at(2),
            "summary": {"dataset_drift": rng.random() < 0.2, "max_psi": rng.choice([None, 0.05, 0.3])},
        }
    if rng.random() < 0.3:
        evidence["data-version"] = {
            "id": i * 10 + 14,
            "effective_at": _at(8),
            "summary": {"datasets": rng.choice([[], [{"name": "applications", "version": "7"}]])},
        }


def make_facts(count: int = SUBJECTS, seed: int = 7) -> list[dict]:
    """Synthetic subjects with a realistic mix: some evidence kinds absent, some failing."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        evidence: dict = {}
        # The draws keep their order (build, then platform), so a seed gives the same facts.
        _build_evidence(rng, i, evidence)
        _platform_evidence(rng, i, evidence)
        if "fairness" in evidence and rng.random() < 0.5:
            evidence["fairness"]["summary"]["fairness"]["equalized_odds_difference"] = rng.uniform(0, 0.3)
        ml = rng.random() < 0.4
        out.append(
            {
                "now": NOW,
                "subject": {"kind": rng.choice(KINDS), "uri": f"urn:subject:{i}", "digest": "", "name": str(i)},
                "system": {
                    "slug": f"system-{i % 40}",
                    "kind": "ml_model" if ml else "service",
                    "risk_tier": rng.choice(["low", "medium", "high", "critical"]),
                    "data_classes": rng.sample(["phi", "pii", "financial", "public"], 2),
                    "frameworks": ["soc2", "gdpr", "hipaa", "eu-ai-act", "sr-11-7"],
                    "environment": rng.choice(["dev", "staging", "prod"]),
                    "allowed_regions": rng.choice([[], ["eu-west-1"], ["eu-west-1", "eu-central-1"]]),
                    "log_retention_days": 365,
                },
                "evidence": evidence,
                "lineage": {
                    "has_provenance_chain": rng.random() < 0.7,
                    "builders": [],
                    "upstream_kinds": ["commit", "dataset"] if ml else ["commit"],
                },
                "approvals": [
                    {"approver": rng.choice(["ana", "bo", "cy"]), "role": "x"} for _ in range(rng.randint(0, 3))
                ],
                "baseline": {"metrics": {"auc": 0.86}} if rng.random() < 0.7 else {},
            }
        )
    return out


# --- the same checks in plain Python ----------------------------------------------------------


def _age(ev: dict) -> float:
    at = datetime.fromisoformat(ev["effective_at"].replace("Z", "+00:00"))
    return (NOW - at).total_seconds() / 86400


def _ev(f: dict, kind: str) -> dict:
    return f["evidence"][kind]


_CRYPTO = re.compile(
    r"(?i)(insecure[-_.]?transport|cleartext|plaintext|ssl|tls|weak[-_.]?(crypto|cipher|hash)|md5|sha1|"
    r"hard[-_.]?coded[-_.]?(secret|password|key|credential))"
)

_PUBLIC_STORAGE = re.compile(
    r"(s3_bucket|storage_bucket|storage_account|storage_container|db_instance|rds_cluster|sql_database|"
    r"database_instance|dynamodb|cosmosdb|redshift)"
)

PYTHON_CHECKS = {
    "sast-no-high-findings": lambda f: _ev(f, "sast-scan")["summary"]["high_severity"] == 0,
    "sast-no-error-level-findings": lambda f: _ev(f, "sast-scan")["summary"]["by_level"]["error"] == 0,
    "security-scan-fresh": lambda f: _age(_ev(f, "sast-scan")) <= 30.0,
    "no-transport-or-crypto-weaknesses": lambda f: (
        not any(_CRYPTO.search(r["id"]) for r in _ev(f, "sast-scan")["summary"]["rules"])
    ),
    "tests-ran-and-passed": lambda f: (
        _ev(f, "test-report")["summary"]["tests"] > 0
        and _ev(f, "test-report")["summary"]["failed"] + _ev(f, "test-report")["summary"]["errored"] == 0
    ),
    "sbom-for-deployed-image": lambda f: (
        _ev(f, "sbom")["summary"].get("components_total", _ev(f, "sbom")["summary"].get("packages_total", 0)) > 0
    ),
    "provenance-allowed-builder": lambda f: _ev(f, "provenance")["summary"]["verified"] is True and any(
        _ev(f, "provenance")["summary"]["builder_id"].startswith(b) for b in ALLOWED
    ),
    "provenance-signed": lambda f: (
        _ev(f, "provenance")["summary"]["verified"] is True
        and _ev(f, "provenance")["summary"]["reason"].startswith("verified")
    ),
    "provenance-chain-complete": lambda f: f["lineage"]["has_provenance_chain"],
    "release-two-approvers": lambda f: len({a["approver"] for a in f["approvals"]}) >= 2,
    "release-approved": lambda f: len(f["approvals"]) >= 1,
    "fairness-and-auc-vs-production": lambda f: (
        _ev(f, "fairness")["summary"]["fairness"]["demographic_parity_difference"] < 0.05
        and _ev(f, "fairness")["summary"]["metrics"]["auc"] >= f["baseline"]["metrics"]["auc"] - 0.02
    ),
    "model-monitoring-recent": lambda f: _age(_ev(f, "metrics")) <= 30.0 and _ev(f, "metrics")["verdict"] != "fail",
    "model-card-published": lambda f: _ev(f, "model-card")["summary"]["metrics_total"] > 0,
    "training-data-lineage": lambda f: "dataset" in f["lineage"]["upstream_kinds"],
    "independent-validation-current": lambda f: _age(_ev(f, "validation-report")) <= 365.0,
    "dpia-current": lambda f: _age(_ev(f, "dpia")) <= 365.0,
    "ai-risk-assessment-current": lambda f: _age(_ev(f, "risk-assessment")) <= 365.0,
    "infra-encryption-at-rest-managed-key": lambda f: (
        not _ev(f, "infrastructure")["summary"]["unencrypted"]
        and not _ev(f, "infrastructure")["summary"]["encrypted_without_customer_key"]
    ),
    "infra-tls-1-2-or-newer": lambda f: all(
        t["protocol"] != "HTTP" and t["min_tls_version"] in ("1.2", "1.3")
        for t in _ev(f, "infrastructure")["summary"]["tls_endpoints"]
    ),
    "infra-allowed-regions": lambda f: len(f["system"]["allowed_regions"]) > 0 and all(
        r == "" or r in f["system"]["allowed_regions"] for r in _ev(f, "infrastructure")["summary"]["regions"]
    ),
    "infra-no-public-storage": lambda f: not any(
        _PUBLIC_STORAGE.search(a) for a in _ev(f, "infrastructure")["summary"]["public"]
    ),
    "infra-log-retention": lambda f: len(_ev(f, "infrastructure")["summary"]["log_retention"]) > 0 and all(
        r["days"] == 0 or r["days"] >= f["system"]["log_retention_days"]
        for r in _ev(f, "infrastructure")["summary"]["log_retention"]
    ),
    "infra-no-iam-wildcards": lambda f: not any(
        x["issue"].startswith("IAM statement allows")
        and (x["issue"].endswith("Resource '*'") or x["issue"].startswith("IAM statement allows * "))
        for x in _ev(f, "infrastructure")["summary"]["findings"]
    ),
    "k8s-no-privileged-pods-phi": lambda f: (
        not _ev(f, "kubernetes-manifests")["summary"]["privileged"]
        and not _ev(f, "kubernetes-manifests")["summary"]["host_paths"]
    ),
    "iac-scan-clean": lambda f: _ev(f, "iac-scan")["summary"]["failed"] == 0,
    "opa-no-denied-decisions": lambda f: _ev(f, "policy-decisions")["summary"]["by_outcome"]["deny"] == 0,
    "training-data-quality-passed": lambda f: _ev(f, "data-quality")["summary"]["success"] is True,
    "drift-under-threshold": lambda f: not _ev(f, "drift")["summary"]["dataset_drift"] and (
        _ev(f, "drift")["summary"]["max_psi"] is None or _ev(f, "drift")["summary"]["max_psi"] < 0.2
    ),
    "fairness-difference-under-threshold": lambda f: (
        _ev(f, "fairness")["summary"]["fairness"]["demographic_parity_difference"] < 0.1
        and _ev(f, "fairness")["summary"]["fairness"].get("equalized_odds_difference", 0.0) < 0.2
    ),
    "training-data-version-recorded": lambda f: (
        "data-version" in f["evidence"] and len(_ev(f, "data-version")["summary"]["datasets"]) > 0
    ) or "dataset" in f["lineage"]["upstream_kinds"],
}


def _python_outcome(rule, check, facts: dict) -> str:
    """The hand-written equivalent of evaluate_rule(): selector, requires, check."""
    if rule.selector.mismatch(facts) is not None:
        return "not-applicable"
    for kind in rule.requires:
        if kind == "baseline":
            if not facts["baseline"]:
                return "missing"
        elif kind not in facts["evidence"]:
            return "missing"
    try:
        return "pass" if check(facts) else "fail"
    except (KeyError, TypeError):
        return "error"


def _python_check_sources() -> list[str]:
    """The source text of each lambda in PYTHON_CHECKS, for the compile baseline."""
    text = Path(__file__).read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PYTHON_CHECKS":
            return [ast.get_source_segment(text, value) for value in node.value.values]
    raise LookupError("PYTHON_CHECKS not found")


def _best(func) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        func()
        timings.append(time.perf_counter() - start)
    return min(timings)


def _row(name: str, items: int, unit: str, seconds: float, baseline_seconds: float, baseline_what: str) -> dict:
    value = items / seconds
    baseline = items / baseline_seconds
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "baseline_unit": f"{unit} ({baseline_what})",
        "ratio": round(value / baseline, 4),
    }


def run() -> list[dict]:
    rules = load_rule_set()
    assert set(PYTHON_CHECKS) == {r.key for r in rules}, "the Python baseline must mirror the default rule set"
    checks = [(rule, PYTHON_CHECKS[rule.key]) for rule in rules]
    subjects = make_facts()
    evaluations = len(rules) * len(subjects)

    # Both sides must agree on every outcome, or the comparison means nothing.
    for facts in subjects:
        prepared = prepare_facts(facts)
        for rule, check in checks:
            cel_status = evaluate_rule(rule, prepared).status
            assert cel_status == _python_outcome(rule, check, facts), (rule.key, cel_status)

    def cel_warm():
        for facts in subjects:
            prepared = prepare_facts(facts)
            for rule in rules:
                evaluate_rule(rule, prepared)

    def cel_cold():
        for facts in subjects:
            for rule in rules:
                evaluate_rule(rule, facts)

    def python_checks():
        for facts in subjects:
            for rule, check in checks:
                _python_outcome(rule, check, facts)

    python_seconds = _best(python_checks)
    rows = [
        _row("rule_evaluations", evaluations, "evaluations/s", _best(cel_warm), python_seconds, "Python lambdas"),
        _row("rule_evaluations_cold", evaluations, "evaluations/s", _best(cel_cold), python_seconds, "Python lambdas"),
        _row(
            "subjects_prepared",
            len(subjects),
            "subjects/s",
            _best(lambda: [prepare_facts(f) for f in subjects]),
            _best(lambda: [copy.deepcopy(f) for f in subjects]),
            "copy.deepcopy",
        ),
    ]
    sources = _python_check_sources()
    rows.append(
        _row(
            "rule_compiles",
            len(rules) * 20,
            "compiles/s",
            _best(lambda: [compile_rule(r.expression, requires=r.requires) for _ in range(20) for r in rules]),
            _best(lambda: [compile(f"({s})", "<rule>", "eval") for _ in range(20) for s in sources]),
            "Python compile()",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
