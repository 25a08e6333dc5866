"""The shapes of a large organisation the scale generator draws from: domains, kinds, tiers, evidence
per artifact, exception states, and the small helpers that pick from them."""

import random


class GenerationRefused(Exception):
    """The database already holds a generated data set (or the spec is inconsistent)."""


MARKER_SOURCE = "scale-generator"  # the Source every generated receipt comes from is the "already generated" marker
CHUNK = 25_000  # evidence rows per transaction


# ---------------------------------------------------------------- shapes of a large organisation

DOMAINS = [
    "payments",
    "lending",
    "cards",
    "claims",
    "care",
    "pharmacy",
    "identity",
    "search",
    "ledger",
    "risk",
    "fraud",
    "pricing",
    "onboarding",
    "billing",
    "records",
    "imaging",
    "lab",
    "scheduling",
    "support",
    "ads",
]
NOUNS = ["api", "service", "gateway", "worker", "engine", "portal", "pipeline", "store", "hub", "model"]
# (system kind, weight, data classes to choose from, frameworks by data class)
KINDS = [("service", 0.6), ("ml_model", 0.3), ("data_platform", 0.1)]
TIERS = [("low", 0.3), ("medium", 0.4), ("high", 0.22), ("critical", 0.08)]
DATA_CLASSES = [
    ("pii", 0.55),
    ("financial", 0.35),
    ("phi", 0.2),
    ("cardholder", 0.1),
    ("credentials", 0.1),
    ("public", 0.15),
]
# Evidence kinds by what they are about, with (weight, pass share, format).
EVIDENCE_BY_ARTIFACT = {
    "commit": [
        ("test-report", 30, 0.93, "junit"),
        ("sast-scan", 12, 0.85, "sarif"),
        ("pipeline-run", 14, 0.95, "github"),
        ("policy-decisions", 2, 0.9, "opa"),
    ],
    "image": [("sbom", 7, None, "cyclonedx"), ("provenance", 6, 0.97, "intoto"), ("sast-scan", 2, 0.8, "sarif")],
    "release": [("release", 2, None, "github"), ("provenance", 1, 0.97, "intoto")],
    "deployment": [("deployment", 4, None, "github"), ("kubernetes-manifests", 1, 0.9, "kubernetes")],
    "model-version": [
        ("metrics", 3, 0.9, "metrics"),
        ("fairness", 1, 0.85, "fairness"),
        ("drift", 3, 0.88, "drift"),
        ("model-card", 0.5, None, "model-card"),
    ],
    "dataset": [("data-quality", 3, 0.9, "great-expectations"), ("data-version", 1, None, "dvc")],
    None: [
        ("infrastructure", 2, 0.9, "terraform"),
        ("iac-scan", 1.5, 0.8, "checkov"),
        ("dpia", 0.1, None, "generic"),
        ("risk-assessment", 0.1, None, "generic"),
    ],
}
# The kind of the evidence that states each lineage relation (about the edge's target).
STATED_BY = {
    "built-from": "provenance",
    "released-from": "release",
    "deployed-from": "deployment",
    "depends-on": "sbom",
    "trained-on": "metrics",
    "derived-from": "data-quality",
}
CHANNEL_OF = {"github": ("github", "workflow_run"), "gitlab": ("gitlab", "Pipeline Hook")}
EXCEPTION_STATES = [
    ("approved", 0.38),
    ("pending", 0.14),
    ("expired", 0.25),
    ("rejected", 0.09),
    ("revoked", 0.06),
    ("draft", 0.08),
]


def _pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _hex(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))  # noqa: UP031 - fixed-width hex of a random number


def _summary(kind: str, verdict: str, rng: random.Random) -> dict:
    failed = verdict == "fail"
    if kind == "test-report":
        tests = rng.randint(20, 2000)
        return {"tests": tests, "failed": rng.randint(1, 12) if failed else 0, "skipped": rng.randint(0, 5)}
    if kind == "sast-scan":
        return {
            "results": rng.randint(0, 40),
            "high_severity": rng.randint(1, 4) if failed else 0,
            "error_level": rng.randint(0, 3) if failed else 0,
        }
    if kind == "sbom":
        return {"components": int(rng.paretovariate(1.2) * 40)}
    if kind in ("metrics", "fairness", "drift"):
        return {"auc": round(rng.uniform(0.7, 0.95), 3), "psi": round(rng.uniform(0, 0.4 if failed else 0.1), 3)}
    return {"generated": True}


def _reason(rule_key: str, status: str) -> str:
    return {
        "pass": f"{rule_key}: satisfied",
        "fail": f"{rule_key}: the evidence does not satisfy the rule",
        "missing": f"missing evidence for {rule_key}",
        "excepted": f"{rule_key}: covered by an exception",
    }[status]
