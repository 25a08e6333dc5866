"""Turn a parser's summary dict into something a person reads: headline numbers, then facts."""

from __future__ import annotations

import json

from django import template

register = template.Library()

# The facts that matter most for each kind of evidence, shown first and large.
HEADLINES: dict[str, list[str]] = {
    "test-report": ["tests", "passed", "failed", "errored", "skipped", "time_seconds"],
    "sast-scan": ["results_total", "high_severity", "rules_total", "suppressed"],
    "sbom": [
        "components_total",
        "packages_total",
        "components_without_license",
        "packages_without_license",
        "dependency_edges",
        "edges",
    ],
    "provenance": ["verified", "signer", "signature_count", "subjects_total", "materials_total"],
    "pipeline-run": ["conclusion", "status", "branch", "actor"],
    "job": ["conclusion", "status", "branch", "actor"],
    "check-run": ["conclusion", "status", "branch"],
    "check-suite": ["conclusion", "status", "branch"],
    "commit-status": ["context", "state", "actor"],
    "deployment": ["environment", "state", "actor"],
    "release": ["tag", "author", "assets_total"],
    "push": ["ref", "pusher", "commits_total"],
    "package": ["package", "version", "package_type"],
    "model-card": ["model", "version", "metrics_total", "fairness_total"],
    "fairness": ["model", "version", "metrics_total", "fairness_total"],
    "metrics": ["model", "version", "metrics_total"],
    # infrastructure and data evidence (issue 11)
    "infrastructure": ["document", "resources_total", "storage_total", "findings_total", "iam_wildcard_statements"],
    "kubernetes-manifests": ["objects_total", "workloads_total", "containers_total", "findings_total"],
    "iac-scan": ["passed", "failed", "skipped", "parsing_errors"],
    "data-quality": ["suite", "success", "evaluated_expectations", "unsuccessful_expectations", "success_percent"],
    "drift": ["dataset_drift", "number_of_drifted_columns", "number_of_columns", "share_of_drifted_columns", "max_psi"],
    "data-version": ["file_type", "stages_total", "outputs_total", "lineage_edges"],
    "dataset-version": ["dataset", "version", "fields_total", "statistics_of"],
    "policy-decisions": ["decisions_total", "skipped_lines"],
}


def _label(key: str) -> str:
    return str(key).replace("_", " ").replace("-", " ").capitalize()


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _cell(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_scalar(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))[:500]


def _row(key, value) -> dict:
    if _is_scalar(value):
        text = _cell(value)
        link = text if isinstance(value, str) and value.startswith(("https://", "http://")) else ""
        return {"label": _label(key), "type": "scalar", "value": text, "link": link}
    if isinstance(value, dict):
        if all(_is_scalar(v) for v in value.values()):
            return {"label": _label(key), "type": "pairs", "value": [(k, _cell(v)) for k, v in value.items()]}
        return {"label": _label(key), "type": "scalar", "value": _cell(value), "link": ""}
    if isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            return {"label": _label(key), "type": "list", "value": [_cell(v) for v in value]}
        if all(isinstance(v, dict) for v in value):
            return {"label": _label(key), "type": "table", **_table(value)}
    return {"label": _label(key), "type": "scalar", "value": _cell(value), "link": ""}


def _table(rows: list[dict], max_columns: int = 8) -> dict:
    columns: list[str] = []
    for row in rows[:50]:
        for key in row:
            if key not in columns and len(columns) < max_columns:
                columns.append(key)
    return {"columns": [_label(c) for c in columns], "rows": [[_cell(r.get(c)) for c in columns] for r in rows]}


@register.simple_tag
def summary_view(kind: str, summary: dict) -> dict:
    """{"headline": [(label, value)], "rows": [...]} for the detail page."""
    summary = summary if isinstance(summary, dict) else {}
    head_keys = [k for k in HEADLINES.get(kind, []) if k in summary and _is_scalar(summary[k])]
    return {
        "headline": [(_label(k), _cell(summary[k])) for k in head_keys],
        "rows": [_row(k, v) for k, v in summary.items() if k not in head_keys],
    }


@register.simple_tag
def records_table(records: list[dict]) -> dict:
    return _table([r for r in records if isinstance(r, dict)])
