"""Great Expectations validation results as JSON, GX 0.15+ and 1.x.

Accepted shapes:

1. An ExpectationSuiteValidationResult (`result.to_json_dict()`): "success",
   "results" [{success, expectation_config {type | expectation_type, kwargs},
   result {element_count, unexpected_count, unexpected_percent, observed_value},
   exception_info}], "statistics", "meta" {expectation_suite_name, run_id {run_name,
   run_time}, active_batch_definition | batch_kwargs, validation_time}, "suite_name" (1.x).
2. A CheckpointResult serialized with `to_json_dict()` (0.x): "run_id", "run_results"
   {<id>: {"validation_result": <1>, "actions_results"}}, "checkpoint_config".
3. A GX 1.x CheckpointResult `describe_dict()`: "success", "statistics",
   "validation_results" [{success, statistics, expectations [{expectation_type,
   success, kwargs, result}]}].

Each validation result becomes one evidence item (kind "data-quality"), with one
record per expectation: {expectation_type, column, kwargs (scalars only), success,
element_count, unexpected_count, unexpected_percent, observed_value, exception}.
Verdict: pass or fail from the validation's `success` (computed from the
expectations when absent); an expectation that raised counts as failed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
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

LABEL = "Great Expectations"
_COMPACT_TIME = re.compile(r"^(\d{8}T\d{6})(?:\.(\d{1,6}))?Z$")


def gx_time(value) -> datetime | None:
    """GX writes ISO times and also '20240501T120000.123456Z' (validation_time, ge_load_time)."""
    if isinstance(value, str):
        match = _COMPACT_TIME.match(value.strip())
        if match:
            try:
                parsed = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            except ValueError:
                return None
            fraction = match.group(2) or "0"
            return parsed.replace(microsecond=int(fraction.ljust(6, "0")))
    return parse_datetime(value)


def _scalar(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return text(value, 200)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [_scalar(v) for v in value[:20]]
    return None


def _validation_results(doc: dict) -> list[tuple[dict, dict]]:
    """(validation result, context from an enclosing checkpoint) pairs."""
    if "results" in doc and ("statistics" in doc or "meta" in doc or "success" in doc):
        return [(doc, {})]
    if "run_results" in doc:
        run_id = doc.get("run_id") if isinstance(doc.get("run_id"), dict) else {}
        config = doc.get("checkpoint_config") if isinstance(doc.get("checkpoint_config"), dict) else {}
        context = {"run_id": run_id, "checkpoint": text(config.get("name"), 200)}
        out = []
        run_results = obj(doc.get("run_results"), "run_results", LABEL, required=True)
        for key, entry in run_results.items():
            entry = obj(entry, f"run_results[{text(key, 80)!r}]", LABEL, required=True)
            result = entry.get("validation_result", entry)
            out.append(
                (obj(result, f"run_results[{text(key, 80)!r}].validation_result", LABEL, required=True), context)
            )
        return out
    if "validation_results" in doc:
        out = []
        for index, result in enumerate(arr(doc.get("validation_results"), "validation_results", LABEL)):
            result = obj(result, f"validation_results[{index}]", LABEL, required=True)
            out.append(({**result, "results": result.get("expectations", result.get("results"))}, {}))
        return out
    raise ParseError(
        f"{LABEL}: expected a validation result ('results' with 'statistics'/'meta') or a checkpoint result "
        "('run_results' or 'validation_results')"
    )


def _expectation(item: dict, where: str) -> dict:
    config = item.get("expectation_config") if isinstance(item.get("expectation_config"), dict) else item
    kwargs = config.get("kwargs") if isinstance(config.get("kwargs"), dict) else {}
    result = item.get("result") if isinstance(item.get("result"), dict) else {}
    exception = item.get("exception_info") if isinstance(item.get("exception_info"), dict) else {}
    raised = exception.get("raised_exception") is True
    success = item.get("success")
    if not isinstance(success, bool):
        raise ParseError(f"{LABEL}: {where}.success must be true or false")
    unexpected = number(result.get("unexpected_count"))
    return {
        "expectation_type": text(config.get("type") or config.get("expectation_type"), 200),
        "column": text(kwargs.get("column"), 200),
        "kwargs": {
            text(k, 100): _scalar(v)
            for k, v in list(kwargs.items())[:20]
            if k not in ("batch_id", "result_format") and _scalar(v) is not None
        },
        "success": success and not raised,
        "element_count": number(result.get("element_count")),
        "unexpected_count": int(unexpected) if unexpected is not None and abs(unexpected) < 1e15 else None,
        "unexpected_percent": number(result.get("unexpected_percent")),
        "observed_value": _scalar(result.get("observed_value")),
        "exception": text(exception.get("exception_message"), 300) if raised else "",
    }


def _evidence(result: dict, context: dict, index: int) -> EvidenceFacts:
    where = f"validation result {index}"
    items = arr(result.get("results"), f"{where}.results", LABEL, required=True)
    records = [
        _expectation(obj(item, f"{where}.results[{i}]", LABEL, required=True), f"{where}.results[{i}]")
        for i, item in enumerate(items)
    ]
    meta = obj(result.get("meta"), f"{where}.meta", LABEL)
    stats = obj(result.get("statistics"), f"{where}.statistics", LABEL)
    batch = meta.get("active_batch_definition") or meta.get("batch_kwargs") or {}
    batch = batch if isinstance(batch, dict) else {}
    run_id = meta.get("run_id") if isinstance(meta.get("run_id"), dict) else context.get("run_id", {})
    run_id = run_id if isinstance(run_id, dict) else {}
    effective_at = gx_time(run_id.get("run_time")) or gx_time(meta.get("validation_time"))
    suite = text(result.get("suite_name") or meta.get("expectation_suite_name"), 200)
    failed = [r for r in records if not r["success"]]
    success = result.get("success")
    if not isinstance(success, bool):
        success = not failed
    evaluated = number(stats.get("evaluated_expectations"))
    total = int(evaluated) if evaluated is not None and 0 <= evaluated < 1e9 else len(records)
    unsuccessful = number(stats.get("unsuccessful_expectations"))
    failed_count = int(unsuccessful) if unsuccessful is not None and 0 <= unsuccessful < 1e9 else len(failed)
    if success:
        verdict, reason = "pass", f"all {plural(total, 'expectation')} met"
    else:
        verdict = "fail"
        names = ", ".join(
            f"{r['expectation_type']}({r['column']})" if r["column"] else r["expectation_type"] for r in failed[:5]
        )
        reason = f"{failed_count} of {plural(total, 'expectation')} failed" + (f": {names}" if names else "")
    summary = {
        "suite": suite,
        "data_asset": text(batch.get("data_asset_name"), 200),
        "datasource": text(batch.get("datasource_name") or batch.get("datasource"), 200),
        "checkpoint": text(meta.get("checkpoint_name"), 200) or context.get("checkpoint", ""),
        "run_name": text(run_id.get("run_name"), 200),
        "run_time": iso(effective_at),
        "gx_version": text(meta.get("great_expectations_version"), 40),
        "success": success,
        "evaluated_expectations": total,
        "successful_expectations": total - failed_count,
        "unsuccessful_expectations": failed_count,
        "success_percent": number(stats.get("success_percent")),
        "failed_expectations": [
            {
                "expectation_type": r["expectation_type"],
                "column": r["column"],
                "unexpected_count": r["unexpected_count"],
                "unexpected_percent": r["unexpected_percent"],
                "exception": r["exception"],
            }
            for r in failed[:MAX_LIST]
        ],
        "columns": sorted({r["column"] for r in records if r["column"]})[:MAX_LIST],
    }
    subject_name = summary["data_asset"] or suite or "validation"
    title = f"Data quality: {text(subject_name, 120)}: {total - failed_count}/{total} expectations met"
    return EvidenceFacts(
        kind="data-quality",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=records,
    )


@guard(LABEL)
def parse_great_expectations(body: bytes) -> ParseResult:
    """One evidence item per validation result; see the module docstring."""
    doc = load_json_object(body, LABEL)
    pairs = _validation_results(doc)
    if not pairs:
        raise ParseError(f"{LABEL}: the checkpoint result holds no validation results")
    return ParseResult(
        format="great-expectations",
        evidence=[_evidence(result, context, index) for index, (result, context) in enumerate(pairs)],
    )
