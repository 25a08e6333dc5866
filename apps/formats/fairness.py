"""Fairlearn MetricFrame results exported as JSON.

A MetricFrame has no JSON form of its own, so this is the export a pipeline writes
(tests/ingest/parsers/data/infra/sources/make_fairlearn.py.txt does exactly this)::

    {
      "schema": "fairlearn-metricframe/v1",       # optional marker
      "fairlearn_version": "0.13.0",              # optional
      "model": "loan-approval", "version": "12",  # -> subject mlflow://loan-approval/12
      "subject": "mlflow://loan-approval/12",     # optional; any normalize_subject() identity
      "dataset": "dataset:sha256:<64 hex>",       # optional; the evaluation data
      "date": "2024-06-03T09:30:00Z",             # optional
      "sensitive_features": ["sex"],
      "by_group":   {"accuracy": {"female": 0.61, "male": 0.80}, ...},  # MetricFrame.by_group.to_dict()
      "overall":    {"accuracy": 0.70, ...},       # MetricFrame.overall.to_dict()
      "difference": {"accuracy": 0.195, ...},      # MetricFrame.difference().to_dict()
      "ratio":      {"accuracy": 0.756, ...},      # MetricFrame.ratio().to_dict()
      "group_min":  {...}, "group_max": {...},     # optional
      "fairness": {                                # optional scalars from fairlearn.metrics
        "demographic_parity_difference": 0.07, "demographic_parity_ratio": 0.87,
        "equalized_odds_difference": 0.23, "equalized_odds_ratio": 0.60
      },
      "thresholds": {"demographic_parity_difference": {"max": 0.1}, "ratio.selection_rate": {"min": 0.8}}
    }

`by_group` is required and is keyed metric -> group -> value (give the MetricFrame a
dict of named metrics; with several sensitive features, join a group's labels with
" | ").

A plain `MetricFrame.by_group` written by pandas, with nothing added, is read too:
`frame.by_group.to_json(path)` (pandas' default orient, metric -> group -> value) or
`frame.by_group.to_json(path, orient="table")` (Table Schema: rows with the sensitive
features as primary key, which keeps their names). Such an export has no model, date
or thresholds, so the upload's subject says what it is about; `difference` and `ratio`
are computed per metric between groups (max - min, min / max, as MetricFrame's
`difference()` and `ratio()` do), and from them `demographic_parity_difference`/`_ratio`
(from `selection_rate`) and `equalized_odds_difference`/`_ratio` (from
`true_positive_rate` or `recall`, with `false_positive_rate`), the way fairlearn.metrics
defines them; `computed` lists what was computed here rather than read.

Threshold names are a `fairness` scalar, or "<part>.<metric>" where part is
overall, difference, ratio, group_min or group_max; bounds as in mlreports ({"min"},
{"max"}). The simpler plain fairness form without `by_group` stays with mlreports.

Records: one per metric and group {metric, group, value}. Verdict: fail if a threshold
is violated or names a value the export lacks; pass if thresholds were given and
hold; info otherwise.
"""

from __future__ import annotations

import contextlib

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
from .mlreports import _check_thresholds  # same threshold semantics as the plain metrics form
from .subjects import normalize_subject

LABEL = "Fairlearn MetricFrame"
PARTS = ("overall", "difference", "ratio", "group_min", "group_max")
MAX_GROUPS = 1000


def _values(value, where: str) -> dict[str, float | None]:
    """{name: finite number or None}; None where Fairlearn wrote null (an undefined metric)."""
    out = {}
    for name, item in obj(value, where, LABEL).items():
        if item is None:
            out[text(name, 200)] = None
            continue
        result = number(item) if not isinstance(item, str) else None
        if result is None:
            raise ParseError(f"{LABEL}: {where}.{text(name, 100)} is {text(repr(item), 60)}, expected a number")
        out[text(name, 200)] = result
    return out


def _finite(value) -> bool:
    return value is None or (number(value) is not None and not isinstance(value, str))


def _plain_columns(doc: dict) -> dict | None:
    """metric -> group -> value of pandas' default DataFrame JSON, when every metric has the same >= 2 groups."""
    if not doc or not all(isinstance(groups, dict) and len(groups) >= 2 for groups in doc.values()):
        return None
    group_keys = [tuple(groups) for groups in doc.values()]
    if len(set(group_keys)) != 1:
        return None
    if not all(_finite(v) for groups in doc.values() for v in groups.values()):
        return None
    if all(v is None for groups in doc.values() for v in groups.values()):
        return None
    return doc


def _plain_table(doc: dict) -> tuple[dict, list[str]] | None:
    """(metric -> group -> value, sensitive features) of pandas' orient="table" JSON, else None."""
    schema, rows = doc.get("schema"), doc.get("data")
    if not isinstance(schema, dict) or not isinstance(rows, list) or not rows:
        return None
    keys, fields = schema.get("primaryKey"), schema.get("fields")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        return None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        return None
    metrics = [f["name"] for f in fields if f["name"] not in keys]
    numeric = {f["name"] for f in fields if f.get("type") in ("number", "integer")}
    if not metrics or any(m not in numeric for m in metrics):
        return None
    by_group: dict[str, dict] = {m: {} for m in metrics}
    for row in rows[: MAX_GROUPS + 1]:
        if not isinstance(row, dict):
            return None
        group = " | ".join(text(str(row.get(k)), 100) for k in keys)
        for metric in metrics:
            if not _finite(row.get(metric)):
                return None
            by_group[metric][group] = row.get(metric)
    return by_group, [text(str(k), 100) for k in keys]


def plain_by_group(doc) -> tuple[dict, list[str]] | None:
    """(by_group, sensitive features) when `doc` is a plain MetricFrame.by_group export, else None."""
    if not isinstance(doc, dict) or "by_group" in doc:
        return None
    table = _plain_table(doc)
    if table is not None:
        return table
    columns = _plain_columns(doc)
    return (columns, []) if columns is not None else None


def _between_groups(by_group: dict) -> tuple[dict, dict]:
    """MetricFrame.difference() and .ratio() with method="between_groups", per metric."""
    difference, ratio = {}, {}
    for metric, groups in by_group.items():
        values = [v for v in groups.values() if v is not None]
        if len(values) < 2:
            continue
        low, high = min(values), max(values)
        difference[metric] = high - low
        if high != 0:
            ratio[metric] = low / high
    return difference, ratio


def _plain_document(by_group: dict, features: list[str]) -> dict:
    """The documented export shape of a plain by_group export, with what can be computed from it."""
    by_group = {text(m, 200): {text(g, 200): v for g, v in groups.items()} for m, groups in by_group.items()}
    numbers = {m: _values(groups, f"by_group.{m}") for m, groups in by_group.items()}
    difference, ratio = _between_groups(numbers)
    fairness, computed = {}, ["difference", "ratio"]
    if "selection_rate" in difference:
        fairness["demographic_parity_difference"] = difference["selection_rate"]
        computed.append("demographic_parity_difference")
        if "selection_rate" in ratio:
            fairness["demographic_parity_ratio"] = ratio["selection_rate"]
            computed.append("demographic_parity_ratio")
    tpr = "true_positive_rate" if "true_positive_rate" in difference else "recall"
    if tpr in difference and "false_positive_rate" in difference:
        fairness["equalized_odds_difference"] = max(difference[tpr], difference["false_positive_rate"])
        computed.append("equalized_odds_difference")
        if tpr in ratio and "false_positive_rate" in ratio:
            fairness["equalized_odds_ratio"] = min(ratio[tpr], ratio["false_positive_rate"])
            computed.append("equalized_odds_ratio")
    return {
        "by_group": by_group,
        "sensitive_features": features,
        "difference": difference,
        "ratio": ratio,
        "fairness": fairness,
        "_shape": "fairlearn-by-group",
        "_computed": computed,
    }


@guard(LABEL)
def parse_fairness(body: bytes) -> ParseResult:
    """Metric by group, differences, ratios and fairness scalars; see the module docstring."""
    doc = load_json_object(body, LABEL)
    plain = plain_by_group(doc)
    if plain is not None:
        doc = _plain_document(*plain)
    by_group_raw = obj(doc.get("by_group"), "by_group", LABEL, required=True)
    by_group: dict[str, dict[str, float | None]] = {}
    records = []
    for metric, groups in by_group_raw.items():
        name = text(metric, 200)
        by_group[name] = _values(groups, f"by_group.{name}")
        for group, value in by_group[name].items():
            records.append({"metric": name, "group": group, "value": value})
        if len(records) > MAX_GROUPS * MAX_LIST:
            raise ParseError(f"{LABEL}: too many metric/group values")
    if not by_group:
        raise ParseError(f"{LABEL}: by_group is empty")
    parts = {part: _values(doc.get(part), part) for part in PARTS}
    fairness = _values(doc.get("fairness"), "fairness")
    values: dict[str, float] = {k: v for k, v in fairness.items() if v is not None}
    for part, numbers in parts.items():
        values.update({f"{part}.{k}": v for k, v in numbers.items() if v is not None})
    checks, violations = _check_thresholds(doc, values, LABEL)
    if violations:
        verdict = "fail"
        reason = "; ".join(violations[:5]) + (f" (and {len(violations) - 5} more)" if len(violations) > 5 else "")
    elif checks:
        verdict, reason = "pass", f"all {plural(len(checks), 'threshold')} met"
    else:
        verdict, reason = "info", "no thresholds given"

    subjects: list[Subject] = []
    model, version = text(doc.get("model"), 200), text(doc.get("version"), 100)
    if isinstance(doc.get("subject"), str):
        subjects.append(normalize_subject(doc["subject"]))
    elif model and version:
        with contextlib.suppress(ParseError):  # a name that makes no identity leaves the report unlinked
            subjects.append(normalize_subject(f"mlflow://{model.replace('/', '%2F')}/{version}"))
    if isinstance(doc.get("dataset"), str) and doc["dataset"].lower().startswith("dataset:"):
        subjects.append(normalize_subject(doc["dataset"]))
    effective_at = parse_datetime(doc.get("date"))
    features = [text(f, 100) for f in arr(doc.get("sensitive_features"), "sensitive_features", LABEL)][:20]
    groups = list(dict.fromkeys(g for numbers in by_group.values() for g in numbers))
    summary = {
        "shape": doc.get("_shape", "fairlearn-metricframe"),
        "computed": doc.get("_computed", []),
        "fairlearn_version": text(doc.get("fairlearn_version"), 40),
        "model": model,
        "version": version,
        "date": iso(effective_at),
        "sensitive_features": features,
        "metrics": list(by_group)[:MAX_LIST],
        "groups_total": len(groups),
        "groups": groups[:MAX_LIST],
        "by_group": {m: dict(list(g.items())[:MAX_LIST]) for m, g in list(by_group.items())[:MAX_LIST]},
        **{part: dict(list(numbers.items())[:MAX_LIST]) for part, numbers in parts.items()},
        "fairness": dict(list(fairness.items())[:MAX_LIST]),
        "thresholds": checks[:MAX_LIST],
        "violations": violations[:MAX_LIST],
    }
    who = f"{model} v{version}" if model and version else model or "unnamed model"
    by = ", ".join(features) or "group"
    title = f"Fairness (Fairlearn): {text(who, 120)}, {plural(len(by_group), 'metric')} by {text(by, 100)}"
    evidence = EvidenceFacts(
        kind="fairness",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=subjects,
        summary=summary,
        records=records,
    )
    return ParseResult(format="fairness", evidence=[evidence])
