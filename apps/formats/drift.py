"""Data drift reports: Evidently JSON (current and legacy) and a plain PSI/KS summary.

1. Evidently 0.6+ (`Report([DataDriftPreset()]).run(current, reference).json()`):
   "metrics" [{"metric_name" | "metric_id": "DriftedColumnsCount(drift_share=0.5)",
   "config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share"},
   "value": {"count", "share"}}, {"config": {"type": "…:ValueDrift", "column",
   "method", "threshold"}, "value": <score>}]. A column drifts when its score is below
   the threshold for p-value methods (method name contains "p_value") and at or above
   it for distance methods (PSI, Wasserstein, Jensen-Shannon, …), as Evidently decides.
   The dataset drifts when the drifted share reaches `drift_share`.
2. Evidently legacy Report (0.4 era, `evidently.legacy` in 0.7) `.json()`/`.as_dict()`:
   "metrics" [{"metric": "DatasetDriftMetric" | "DataDriftTable" | "ColumnDriftMetric",
   "result": {"dataset_drift", "drift_share", "number_of_columns",
   "number_of_drifted_columns", "share_of_drifted_columns", "drift_by_columns" {col:
   {column_name, column_type, stattest_name, stattest_threshold, drift_score,
   drift_detected}}}}], "timestamp".
3. The portal's plain drift summary, for pipelines that compute PSI/KS themselves::

    {
      "type": "drift-summary",                  # required marker
      "dataset": "dataset:sha256:<64 hex>" | "name",   # the current data
      "reference": "dataset:sha256:<64 hex>" | "name", # the baseline
      "generated_at": "2024-06-03T09:00:00Z",   # optional
      "columns": [{"name": "age", "psi": 0.31, "ks_statistic": 0.42, "ks_pvalue": 0.0001}],
      "threshold": {"psi": 0.2, "ks_pvalue": 0.05, "ks_statistic": 0.3},  # any subset
      "drift_share": 0.5                        # optional: dataset drift at this share
    }

   A column drifts when psi > threshold.psi, ks_pvalue < threshold.ks_pvalue or
   ks_statistic > threshold.ks_statistic (only the thresholds given apply; without any,
   psi > 0.2). The dataset drifts when any column drifts, or, with "drift_share",
   when the drifted share reaches it. "dataset:" identities become subjects.

Records: one per column {column, column_type, stattest, score, threshold, drift_detected,
psi, ks_statistic, ks_pvalue}. Verdict: fail if the dataset drifts (Evidently's
dataset_drift, or any drifted column when the report has no dataset-level result);
pass otherwise.
"""

from __future__ import annotations

import re
from collections import Counter

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    arr,
    guard,
    iso,
    load_json_object,
    number,
    obj,
    parse_datetime,
    plural,
    text,
)
from .subjects import normalize_subject

LABEL = "drift report"
DEFAULT_PSI = 0.2
_PARAM = re.compile(r"(\w+)=([^,()]*)")


def _params(name: str) -> dict[str, str]:
    """'ValueDrift(column=age,method=K-S p_value,threshold=0.05)' -> {'column': 'age', …}."""
    inside = name.partition("(")[2].rpartition(")")[0]
    return {key: value.strip() for key, value in _PARAM.findall(inside)}


def _column(name, column_type, stattest, score, threshold, drifted, **extra) -> dict:
    return {
        "column": text(name, 200),
        "column_type": text(column_type, 20),
        "stattest": text(stattest, 100),
        "score": score,
        "threshold": threshold,
        "drift_detected": drifted,
        "psi": extra.get("psi"),
        "ks_statistic": extra.get("ks_statistic"),
        "ks_pvalue": extra.get("ks_pvalue"),
    }


def _is_p_value(method: str) -> bool:
    return "p_value" in method.lower() or "p-value" in method.lower()


def _read_evidently(doc: dict) -> dict:
    out = {"shape": "", "columns": {}, "dataset_drift": None, "drift_share": None, "drifted": None, "total": None}
    for index, metric in enumerate(arr(doc.get("metrics"), "metrics", LABEL, required=True)):
        metric = obj(metric, f"metrics[{index}]", LABEL, required=True)
        if "metric" in metric:  # legacy
            out["shape"] = "evidently-legacy"
            name = text(metric.get("metric"), 100)
            result = obj(metric.get("result"), f"metrics[{index}].result", LABEL)
            if name in ("DatasetDriftMetric", "DataDriftTable"):
                if isinstance(result.get("dataset_drift"), bool):
                    out["dataset_drift"] = result["dataset_drift"]
                out["drift_share"] = number(result.get("drift_share")) or out["drift_share"]
                out["drifted"] = number(result.get("number_of_drifted_columns"))
                out["total"] = number(result.get("number_of_columns"))
                by_column = obj(result.get("drift_by_columns"), f"metrics[{index}].result.drift_by_columns", LABEL)
                for key, column in by_column.items():
                    column = obj(column, f"metrics[{index}].result.drift_by_columns[{text(key, 80)!r}]", LABEL)
                    out["columns"][text(key, 200)] = _legacy_column(key, column)
            elif name == "ColumnDriftMetric":
                key = text(result.get("column_name"), 200)
                out["columns"].setdefault(key, _legacy_column(key, result))
            continue
        out["shape"] = "evidently"
        config = metric.get("config") if isinstance(metric.get("config"), dict) else {}
        label = text(metric.get("metric_name") or metric.get("metric_id"), 500)
        kind = text(config.get("type"), 200).rsplit(":", 1)[-1] or label.partition("(")[0]
        params = {**_params(label), **{k: v for k, v in config.items() if isinstance(v, (str, int, float))}}
        value = metric.get("value")
        if kind == "DriftedColumnsCount":
            value = value if isinstance(value, dict) else {}
            out["drifted"] = number(value.get("count"))
            share = number(value.get("share"))
            out["share"] = share
            out["drift_share"] = number(params.get("drift_share"))
            if share is not None and out["drift_share"] is not None:
                out["dataset_drift"] = share >= out["drift_share"]
        elif kind == "ValueDrift":
            column = text(params.get("column"), 200)
            method = text(params.get("method"), 100)
            threshold = number(params.get("threshold"))
            score = number(value)
            drifted = None
            if score is not None and threshold is not None:
                drifted = score < threshold if _is_p_value(method) else score >= threshold
            out["columns"][column] = _column(column, "", method, score, threshold, drifted)
    if not out["shape"]:
        raise ParseError(f"{LABEL}: the Evidently report has no metrics")
    if out["drifted"] is not None and out["columns"] and out["total"] is None:
        out["total"] = len(out["columns"])
    return out


def _legacy_column(key, column: dict) -> dict:
    drifted = column.get("drift_detected")
    return _column(
        column.get("column_name") or key,
        column.get("column_type"),
        column.get("stattest_name"),
        number(column.get("drift_score")),
        number(column.get("stattest_threshold")),
        drifted if isinstance(drifted, bool) else None,
    )


def _read_summary(doc: dict) -> dict:
    thresholds = obj(doc.get("threshold"), "threshold", LABEL)
    limits = {}
    for key in ("psi", "ks_pvalue", "ks_statistic"):
        if key in thresholds:
            value = number(thresholds[key]) if not isinstance(thresholds[key], str) else None
            if value is None:
                raise ParseError(f"{LABEL}: threshold.{key} must be a finite number")
            limits[key] = value
    if not limits:
        limits = {"psi": DEFAULT_PSI}
    columns = {}
    for index, column in enumerate(arr(doc.get("columns"), "columns", LABEL, required=True)):
        column = obj(column, f"columns[{index}]", LABEL, required=True)
        name = text(column.get("name"), 200)
        if not name:
            raise ParseError(f"{LABEL}: columns[{index}].name is missing")
        values = {}
        for key in ("psi", "ks_statistic", "ks_pvalue"):
            if column.get(key) is not None:
                value = number(column[key]) if not isinstance(column[key], str) else None
                if value is None:
                    raise ParseError(f"{LABEL}: columns[{index}].{key} must be a finite number")
                values[key] = value
        reasons = []
        if "psi" in limits and values.get("psi") is not None and values["psi"] > limits["psi"]:
            reasons.append("psi")
        if "ks_pvalue" in limits and values.get("ks_pvalue") is not None and values["ks_pvalue"] < limits["ks_pvalue"]:
            reasons.append("ks_pvalue")
        if (
            "ks_statistic" in limits
            and values.get("ks_statistic") is not None
            and values["ks_statistic"] > limits["ks_statistic"]
        ):
            reasons.append("ks_statistic")
        measured = [k for k in ("psi", "ks_pvalue", "ks_statistic") if k in values and k in limits]
        stattest = measured[0] if measured else next(iter(values), "")
        drifted = bool(reasons) if measured else None
        columns[name] = _column(
            name,
            column.get("type"),
            stattest,
            values.get(stattest),
            limits.get(stattest),
            drifted,
            **values,
        )
    share_limit = number(doc.get("drift_share")) if not isinstance(doc.get("drift_share"), str) else None
    drifted = sum(1 for c in columns.values() if c["drift_detected"])
    # with a share limit the dataset drifts at that share of drifted columns, else at the first one
    dataset_drift = drifted / len(columns) >= share_limit if share_limit is not None and columns else drifted > 0
    return {
        "shape": "drift-summary",
        "columns": columns,
        "dataset_drift": dataset_drift,
        "drift_share": share_limit,
        "drifted": drifted,
        "total": len(columns),
        "thresholds": limits,
    }


def _subject(value) -> Subject | None:
    if isinstance(value, str) and value.lower().startswith("dataset:"):
        return normalize_subject(value)
    return None


@guard(LABEL)
def parse_drift(body: bytes) -> ParseResult:
    """Dataset and per-column drift; see the module docstring for the shapes and the verdict."""
    doc = load_json_object(body, LABEL)
    if doc.get("type") == "drift-summary":
        facts = _read_summary(doc)
        effective_at = parse_datetime(doc.get("generated_at"))
    elif "metrics" in doc:
        facts = _read_evidently(doc)
        effective_at = parse_datetime(doc.get("timestamp"))
    else:
        raise ParseError(f"{LABEL}: expected an Evidently report ('metrics') or a plain summary (type 'drift-summary')")
    columns = list(facts["columns"].values())
    drifted_names = [c["column"] for c in columns if c["drift_detected"]]
    drifted = int(facts["drifted"]) if facts["drifted"] is not None else len(drifted_names)
    total = int(facts["total"]) if facts["total"] is not None else len(columns)
    dataset_drift = facts["dataset_drift"]
    if dataset_drift is None:
        dataset_drift = bool(drifted_names) if columns else None
    if dataset_drift is None:
        verdict, reason = "info", "the report has no drift result"
    elif dataset_drift:
        verdict = "fail"
        names = ", ".join(drifted_names[:5]) + (" …" if len(drifted_names) > 5 else "")
        reason = f"dataset drift: {drifted} of {plural(total, 'column')} drifted" + (f" ({names})" if names else "")
    else:
        verdict, reason = "pass", f"no dataset drift ({drifted} of {plural(total, 'column')} drifted)"
    subjects = [s for s in (_subject(doc.get("dataset")), _subject(doc.get("reference"))) if s is not None]
    summary = {
        "shape": facts["shape"],
        "dataset": text(doc.get("dataset"), 300),
        "reference": text(doc.get("reference"), 300),
        "dataset_drift": dataset_drift,
        "drift_share_threshold": facts["drift_share"],
        "number_of_columns": total,
        "number_of_drifted_columns": drifted,
        "share_of_drifted_columns": round(drifted / total, 6) if total else None,
        "drifted_columns": drifted_names[:MAX_LIST],
        "stattests": dict(Counter(c["stattest"] for c in columns if c["stattest"]).most_common(MAX_LIST)),
        "thresholds": facts.get("thresholds", {}),
        "max_psi": max((c["psi"] for c in columns if c["psi"] is not None), default=None),
        "generated_at": iso(effective_at),
    }
    title = f"Drift: {drifted} of {plural(total, 'column')} drifted" + (" (dataset drift)" if dataset_drift else "")
    evidence = EvidenceFacts(
        kind="drift",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=subjects,
        summary=summary,
        records=columns,
    )
    return ParseResult(format="drift", evidence=[evidence])
