"""Model cards and metrics / fairness reports as JSON.

Three shapes are accepted by both entry points.

1. The portal's plain form (what a training pipeline should write)::

    {
      "model": "fraud-detector",            # required with "version" unless "subject" is given
      "version": "7",
      "subject": "mlflow://fraud-detector/7",   # optional; any normalize_subject() identity
      "dataset": "dataset:sha256:<64 hex>",     # optional; the evaluation data
      "date": "2024-05-01T12:00:00Z",           # optional; when the evaluation ran
      "metrics": {"accuracy": 0.91, "auc": 0.88},
      "fairness": {"demographic_parity_difference": 0.04},
      "thresholds": {"demographic_parity_difference": {"max": 0.1}, "auc": {"min": 0.8}}
    }

   "model" + "version" become the subject mlflow://<model>/<version>. Metric values
   must be finite numbers. Each threshold is an object with "min" and/or "max".

2. Hugging Face model card metadata as JSON (`ModelCardData.to_dict()`): "model-index"
   [{"name", "results": [{"task", "dataset", "metrics": [{"type", "value", "name"}]}]}],
   optionally wrapped in "cardData".

3. Google Model Card Toolkit JSON: "model_details" {"name", "version": {"name", "date"}}
   and "quantitative_analysis" {"performance_metrics": [{"type", "value", "slice"}]}.
   MCT writes values as strings; numeric ones are used, others are shown as text.

In shapes 2 and 3 a metric whose type names a fairness measure (parity, equalized odds,
disparate impact, ...) counts as a fairness metric, and so does an MCT metric with a
"slice". Those shapes carry no min/max semantics, so they only set thresholds when the
document also has a plain "thresholds" object.

Verdict: fail if any threshold is violated or names a metric the report lacks; pass
if thresholds were given and all hold; info otherwise.
"""

from __future__ import annotations

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

FAIRNESS_WORDS = (
    "parity",
    "equalized",
    "equalised",
    "equal_opportunity",
    "equal opportunity",
    "disparate",
    "disparity",
    "fairness",
    "bias",
    "demographic",
)


def _is_fairness(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in FAIRNESS_WORDS)


def _plain_metrics(values, where: str, label: str) -> dict[str, float]:
    out = {}
    for name, value in obj(values, where, label).items():
        result = number(value) if not isinstance(value, str) else None
        if result is None:
            raise ParseError(f"{label}: {where}.{text(name, 100)} is {text(repr(value), 60)}, expected a finite number")
        out[text(name, 200)] = result
    return out


def _read_huggingface(doc: dict, facts: dict, label: str) -> None:
    """A Hugging Face `model-index`: each result's metrics, named after their dataset."""
    facts["shape"] = "huggingface"
    for m_index, model in enumerate(arr(doc["model-index"], "model-index", label)):
        model = obj(model, f"model-index[{m_index}]", label, required=True)
        facts["model"] = facts["model"] or text(model.get("name"), 200)
        for r_index, result in enumerate(arr(model.get("results"), f"model-index[{m_index}].results", label)):
            result = obj(result, f"model-index[{m_index}].results[{r_index}]", label, required=True)
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            suffix = f" [{text(dataset.get('name') or dataset.get('type'), 100)}]" if dataset else ""
            for metric in arr(result.get("metrics"), f"model-index[{m_index}].results[{r_index}].metrics", label):
                if not isinstance(metric, dict):
                    continue
                name = text(metric.get("type") or metric.get("name"), 200) + suffix
                _place(facts, name, metric.get("value"), fairness=_is_fairness(name))
    facts["model"] = facts["model"] or text(doc.get("model_name"), 200)


def _read_model_card_toolkit(doc: dict, facts: dict, label: str) -> None:
    """A Model Card Toolkit card: details, then performance metrics (a sliced metric counts as fairness)."""
    facts["shape"] = "model-card-toolkit"
    details = obj(doc.get("model_details"), "model_details", label)
    facts["model"] = text(details.get("name"), 200)
    version = details.get("version")
    if isinstance(version, dict):
        facts["version"] = text(version.get("name"), 100)
        facts["date"] = parse_datetime(version.get("date"))
    analysis = obj(doc.get("quantitative_analysis"), "quantitative_analysis", label)
    for index, metric in enumerate(
        arr(analysis.get("performance_metrics"), "quantitative_analysis.performance_metrics", label)
    ):
        metric = obj(metric, f"quantitative_analysis.performance_metrics[{index}]", label, required=True)
        name = text(metric.get("type"), 200) or f"metric {index}"
        slice_ = text(metric.get("slice"), 200)
        if slice_:
            name = f"{name} [{slice_}]"
        _place(facts, name, metric.get("value"), fairness=bool(slice_) or _is_fairness(name))


def _read_plain(doc: dict, facts: dict, label: str) -> None:
    """The portal's plain report: `model`, `version`, `date`, `metrics`, `fairness` (over what came before)."""
    facts["shape"] = facts["shape"] or "plain"
    facts["metrics"].update(_plain_metrics(doc.get("metrics"), "metrics", label))
    facts["fairness"].update(_plain_metrics(doc.get("fairness"), "fairness", label))
    if doc.get("model") is not None:
        facts["model"] = text(doc.get("model"), 200)
    if doc.get("version") is not None:
        facts["version"] = text(doc.get("version"), 100)
    facts["date"] = parse_datetime(doc.get("date")) or facts["date"]


def _subject_of(doc: dict, facts: dict):
    """The document's `subject`, else the MLflow model version it names, else None."""
    if isinstance(doc.get("subject"), str):
        return normalize_subject(doc["subject"])
    if facts["model"] and facts["version"]:
        try:
            return normalize_subject(f"mlflow://{facts['model'].replace('/', '%2F')}/{facts['version']}")
        except ParseError:
            return None
    return None


def _read(doc: dict, label: str) -> dict:
    """Normalize any accepted shape to model, version, subject, date, metrics, fairness, text."""
    facts = {
        "model": "",
        "version": "",
        "subject": None,
        "dataset": None,
        "date": None,
        "metrics": {},
        "fairness": {},
        "text_metrics": {},
        "shape": "",
    }
    if isinstance(doc.get("cardData"), dict):
        doc = doc["cardData"]
    if "model-index" in doc:
        _read_huggingface(doc, facts, label)
    elif "model_details" in doc or "quantitative_analysis" in doc:
        _read_model_card_toolkit(doc, facts, label)
    if "metrics" in doc or "fairness" in doc or "model" in doc:
        _read_plain(doc, facts, label)
    if not facts["shape"]:
        raise ParseError(
            f"{label}: expected a model card or metrics report: a JSON object with "
            "'model'/'metrics'/'fairness', 'model-index' (Hugging Face) or 'model_details' (Model Card Toolkit)"
        )
    facts["subject"] = _subject_of(doc, facts)
    if isinstance(doc.get("dataset"), str) and doc["dataset"].lower().startswith("dataset:"):
        facts["dataset"] = normalize_subject(doc["dataset"])
    if facts["date"] is None:
        facts["date"] = parse_datetime(doc.get("date")) if doc.get("date") else None
    return facts


def _place(facts: dict, name: str, value, *, fairness: bool) -> None:
    numeric = number(value)
    if numeric is None:
        if value is not None and len(facts["text_metrics"]) < MAX_LIST:
            facts["text_metrics"][name] = text(value, 200)
        return
    facts["fairness" if fairness else "metrics"][name] = numeric


def _check_thresholds(doc: dict, values: dict[str, float], label: str) -> tuple[list[dict], list[str]]:
    checks, violations = [], []
    for name, rule in obj(doc.get("thresholds"), "thresholds", label).items():
        where = f"thresholds.{text(name, 100)}"
        if not isinstance(rule, dict) or not ({"min", "max"} & set(rule)):
            raise ParseError(f"{label}: {where} must be an object with 'min' and/or 'max', e.g. {{\"max\": 0.1}}")
        bounds = {}
        for key in ("min", "max"):
            if key in rule:
                bound = number(rule[key]) if not isinstance(rule[key], str) else None
                if bound is None:
                    raise ParseError(f"{label}: {where}.{key} must be a finite number")
                bounds[key] = bound
        value = values.get(name)
        if value is None:
            ok, reason = False, f"{name}: no such metric in the report"
        elif "min" in bounds and value < bounds["min"]:
            ok, reason = False, f"{name} = {value:g} is below the minimum {bounds['min']:g}"
        elif "max" in bounds and value > bounds["max"]:
            ok, reason = False, f"{name} = {value:g} is above the maximum {bounds['max']:g}"
        else:
            ok, reason = True, ""
        checks.append({"metric": text(name, 200), "value": value, **bounds, "ok": ok})
        if not ok:
            violations.append(reason)
    return checks, violations


def _parse(body: bytes, label: str, fmt: str, card: bool) -> ParseResult:
    doc = load_json_object(body, label)
    facts = _read(doc, label)
    values = {**facts["metrics"], **facts["fairness"]}
    checks, violations = _check_thresholds(doc, values, label)
    if violations:
        verdict = "fail"
        reason = "; ".join(violations[:5]) + (f" (and {len(violations) - 5} more)" if len(violations) > 5 else "")
    elif checks:
        verdict, reason = "pass", f"all {plural(len(checks), 'threshold')} met"
    else:
        verdict, reason = "info", "no thresholds given"
    kind = "model-card" if card else "fairness" if facts["fairness"] else "metrics"
    subjects: list[Subject] = [s for s in (facts["subject"], facts["dataset"]) if s is not None]
    model = facts["model"] or "unnamed model"
    version = f" v{facts['version']}" if facts["version"] else ""
    noun = {"model-card": "Model card", "fairness": "Fairness report", "metrics": "Metrics"}[kind]
    summary = {
        "shape": facts["shape"],
        "model": facts["model"],
        "version": facts["version"],
        "date": iso(facts["date"]),
        "metrics_total": len(facts["metrics"]),
        "metrics": dict(list(facts["metrics"].items())[:MAX_LIST]),
        "fairness_total": len(facts["fairness"]),
        "fairness": dict(list(facts["fairness"].items())[:MAX_LIST]),
        "text_metrics": facts["text_metrics"],
        "thresholds": checks[:MAX_LIST],
        "violations": violations[:MAX_LIST],
    }
    title = f"{noun}: {text(model, 120)}{text(version, 60)}, {plural(len(values), 'metric')}"
    evidence = EvidenceFacts(
        kind=kind,
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=facts["date"],
        subjects=subjects,
        summary=summary,
    )
    return ParseResult(format=fmt, evidence=[evidence])


@guard("model card")
def parse_model_card(body: bytes) -> ParseResult:
    """A model card (any accepted shape) as model-card evidence."""
    return _parse(body, "model card", "model-card", card=True)


@guard("metrics report")
def parse_metrics(body: bytes) -> ParseResult:
    """A metrics report; kind "fairness" when it carries fairness metrics."""
    return _parse(body, "metrics report", "metrics", card=False)
