"""OpenLineage events (https://openlineage.io/spec): run events, and job and dataset events.

A RunEvent ``{"eventType": START|RUNNING|COMPLETE|ABORT|FAIL|OTHER, "eventTime",
"run": {"runId", "facets"}, "job": {"namespace", "name", "facets"}, "inputs": [...],
"outputs": [...], "producer", "schemaURL"}`` becomes one "lineage-run" evidence about
the run, with the job and every dataset as subjects and these edges (upstream ->
downstream): job -run-of-> run, input dataset -derived-from-> run, run -derived-from->
output dataset, and for the run facet "parent" parent job -run-of-> parent run -part-of-> run.
The job facet "sql" ({query, dialect}) is kept in the summary as `sql`. commit -built-from-> job when
the job's "sourceCodeLocation" facet names a repository and version
(subjects.commit_from_source_code_location). A JobEvent or DatasetEvent (no run) becomes
"lineage-static" evidence with the datasets of the job.

Dataset facets, read from a dataset's `facets` and from its `inputFacets` or
`outputFacets` (the spec puts the data-quality facets among the input facets and the statistics
among the output facets; producers are not all strict), each becoming evidence about the dataset:

- "data-quality" (the same summary fields as Great Expectations' evidence, so one rule reads
  both): `dataQualityAssertions` {assertions: [{assertion, success, column, severity, name,
  expected, actual}]} gives `success`, `evaluated_expectations`, `unsuccessful_expectations`,
  `failed_expectations` and one record per assertion; verdict fail when an assertion failed
  (whatever its severity: the severity is kept for rules to weigh), pass when all held, info for
  metrics alone. `dataQualityMetrics` {rowCount, bytes, fileCount, columnMetrics: {column:
  {nullCount, distinctCount, sum, count, min, max}}} gives `row_count`, `bytes`, `file_count`,
  `null_counts` ({column: nullCount}) and `columns`.
- "dataset-version": the `schema` facet's fields ({name, type, description}, nested fields
  flattened as `parent.child`), the `version` facet's datasetVersion, and the statistics the run
  wrote (`outputStatistics` {rowCount, size, fileCount}) or read (`inputStatistics`).

Identities (OpenLineage's own naming: a namespace plus a name): runs
``openlineage-run:<runId>``, jobs ``openlineage-job:<namespace>/<name>``, datasets
``openlineage-dataset:<namespace>/<name>``; a dataset whose facets carry a sha256
("version" facet datasetVersion, or a "digest"/"sha256" custom facet field) is
``dataset:sha256:<hex>`` so that it meets the same data seen by MLflow or DVC.

Verdict: fail for FAIL and ABORT, pass for COMPLETE, info otherwise.
"""

from __future__ import annotations

import re

from .base import (
    MAX_LIST,
    Edge,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    arr,
    guard,
    load_json_object,
    number,
    obj,
    parse_datetime,
    plural,
    text,
)
from .subjects import commit_from_source_code_location, normalize_subject

LABEL = "OpenLineage"
FORMAT = "openlineage"
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
_HEX64 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_RUN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def _name(value: dict, where: str) -> tuple[str, str]:
    namespace, name = text(value.get("namespace"), 500).strip(), text(value.get("name"), 1000).strip()
    if not namespace or not name:
        raise ParseError(f"{LABEL}: {where} needs a namespace and a name")
    return namespace, name


def job_subject(namespace: str, name: str) -> Subject:
    return Subject(kind="job", uri=f"openlineage-job:{namespace}/{name}", name=text(name, 200))


def run_subject(run_id: str, job_name: str = "") -> Subject:
    if not _RUN_ID.match(run_id or ""):
        raise ParseError(f"{LABEL}: run.runId {text(run_id, 60)!r} is not a run id (a UUID)")
    label = f"{text(job_name, 150)} run {run_id[:8]}" if job_name else f"run {run_id[:8]}"
    return Subject(kind="run", uri=f"openlineage-run:{run_id.lower()}", name=label)


def dataset_subject(dataset: dict, where: str) -> Subject:
    namespace, name = _name(dataset, where)
    facets = obj(dataset.get("facets"), f"{where}.facets", LABEL)
    candidates = [obj(facets.get("version"), f"{where}.facets.version", LABEL).get("datasetVersion")]
    for facet in facets.values():
        if isinstance(facet, dict):
            candidates += [facet.get("sha256"), facet.get("digest")]
    for value in candidates:
        match = _HEX64.match(value) if isinstance(value, str) else None
        if match:
            subject = normalize_subject(f"dataset:sha256:{match.group(1)}")
            return Subject(kind="dataset", uri=subject.uri, digest=subject.digest, name=text(name, 200))
    return Subject(kind="dataset", uri=f"openlineage-dataset:{namespace}/{name}", name=text(name, 200))


def _datasets(doc: dict, key: str) -> list[tuple[Subject, dict, dict]]:
    """(subject, summary entry, the dataset object) for each dataset under `key`."""
    out = []
    for index, item in enumerate(arr(doc.get(key), key, LABEL)[:1000]):
        item = obj(item, f"{key}[{index}]", LABEL, required=True)
        subject = dataset_subject(item, f"{key}[{index}]")
        namespace, name = _name(item, f"{key}[{index}]")
        out.append((subject, {"namespace": namespace, "name": text(name, 300), "uri": subject.uri}, item))
    return out


def _facet(item: dict, name: str, where: str) -> dict:
    """A dataset facet, wherever the producer put it: facets, inputFacets or outputFacets."""
    for group in ("facets", "inputFacets", "outputFacets"):
        facets = obj(item.get(group), f"{where}.{group}", LABEL)
        if name in facets:
            return obj(facets[name], f"{where}.{group}.{name}", LABEL)
    return {}


def _count(value) -> int | None:
    """A non-negative whole count from a JSON number, else None."""
    value = number(value)
    return int(value) if value is not None and 0 <= value < 1e18 and value == int(value) else None


def _schema_fields(fields: list, where: str, prefix: str = "", depth: int = 0) -> list[dict]:
    out = []
    for index, field in enumerate(arr(fields, where, LABEL)[:1000]):
        field = obj(field, f"{where}[{index}]", LABEL, required=True)
        name = prefix + text(field.get("name"), 200)
        out.append(
            {"name": name, "type": text(field.get("type"), 100), "description": text(field.get("description"), 300)}
        )
        if field.get("fields") and depth < 5:  # nested struct fields, as parent.child
            out += _schema_fields(field["fields"], f"{where}[{index}].fields", name + ".", depth + 1)
    return out


def _dataset_version(subject: Subject, entry: dict, item: dict, where: str, at, job: str) -> EvidenceFacts | None:
    """The schema, version and statistics of one dataset as this event saw it; None when it says nothing."""
    schema = _facet(item, "schema", where)
    version = _facet(item, "version", where)
    written = _facet(item, "outputStatistics", where)
    read = _facet(item, "inputStatistics", where)
    if not (schema or version or written or read):
        return None
    fields = _schema_fields(schema.get("fields"), f"{where}.schema.fields") if schema else []
    stats = written or read
    statistics = (
        {
            "row_count": _count(stats.get("rowCount")),
            "size": _count(stats.get("size")),
            "file_count": _count(stats.get("fileCount")),
        }
        if stats
        else {}
    )
    label = text(entry["name"], 150)
    return EvidenceFacts(
        kind="dataset-version",
        title=f"Dataset {label}: {plural(len(fields), 'field')}"
        + (
            f", {statistics['row_count']} rows {'written' if written else 'read'}"
            if statistics.get("row_count") is not None
            else ""
        ),
        verdict="info",
        verdict_reason="schema and statistics reported by OpenLineage",
        effective_at=at,
        subjects=[subject],
        summary={
            "dataset": f"{entry['namespace']}/{entry['name']}",
            "version": text(version.get("datasetVersion"), 200),
            "schema": fields[:200],
            "fields_total": len(fields),
            "statistics": statistics,
            "statistics_of": ("written" if written else "read") if stats else "",
            "job": job,
        },
    )


def _data_quality(subject: Subject, entry: dict, item: dict, where: str, at, job: str) -> EvidenceFacts | None:
    """Assertions and metrics about one dataset as data-quality evidence; None when there are neither."""
    metrics = _facet(item, "dataQualityMetrics", where)
    assertions_facet = _facet(item, "dataQualityAssertions", where)
    if not (metrics or assertions_facet):
        return None
    records = []
    for index, assertion in enumerate(
        arr(assertions_facet.get("assertions"), f"{where}.dataQualityAssertions.assertions", LABEL)[:1000]
    ):
        assertion = obj(assertion, f"{where}.dataQualityAssertions.assertions[{index}]", LABEL, required=True)
        if not isinstance(assertion.get("success"), bool):
            raise ParseError(
                f"{LABEL}: {where}.dataQualityAssertions.assertions[{index}].success must be true or false"
            )
        records.append(
            {
                "expectation_type": text(assertion.get("assertion"), 200),
                "column": text(assertion.get("column"), 200),
                "success": assertion["success"],
                "severity": text(assertion.get("severity"), 40),
                "name": text(assertion.get("name"), 200),
                "expected": text(assertion.get("expected"), 200),
                "actual": text(assertion.get("actual"), 200),
            }
        )
    failed = [r for r in records if not r["success"]]
    columns, null_counts = {}, {}
    column_metrics = obj(metrics.get("columnMetrics"), f"{where}.dataQualityMetrics.columnMetrics", LABEL)
    for column, values in list(column_metrics.items())[:200]:
        values = obj(values, f"{where}.dataQualityMetrics.columnMetrics.{text(column, 60)}", LABEL)
        column = text(column, 200)
        columns[column] = {
            "null_count": _count(values.get("nullCount")),
            "distinct_count": _count(values.get("distinctCount")),
            "count": number(values.get("count")),
            "sum": number(values.get("sum")),
            "min": number(values.get("min")),
            "max": number(values.get("max")),
        }
        if columns[column]["null_count"] is not None:
            null_counts[column] = columns[column]["null_count"]
    label = text(entry["name"], 150)
    if failed:
        names = ", ".join(
            f"{r['expectation_type']}({r['column']})" if r["column"] else r["expectation_type"] for r in failed[:5]
        )
        verdict, reason = "fail", f"{len(failed)} of {plural(len(records), 'assertion')} failed: {names}"
    elif records:
        verdict, reason = "pass", f"all {plural(len(records), 'assertion')} held"
    else:
        verdict, reason = "info", "metrics only: no assertions were reported"
    return EvidenceFacts(
        kind="data-quality",
        title=f"Data quality: {label}: "
        + (f"{len(records) - len(failed)}/{len(records)} assertions held" if records else "metrics")
        + (f", {_count(metrics.get('rowCount'))} rows" if _count(metrics.get("rowCount")) is not None else ""),
        verdict=verdict,
        verdict_reason=reason,
        effective_at=at,
        subjects=[subject],
        summary={
            "suite": job,
            "data_asset": f"{entry['namespace']}/{entry['name']}",
            # None when nothing was asserted: metrics alone are not a check that passed.
            "success": (not failed) if records else None,
            "evaluated_expectations": len(records),
            "successful_expectations": len(records) - len(failed),
            "unsuccessful_expectations": len(failed),
            "failed_expectations": [
                {k: r[k] for k in ("expectation_type", "column", "severity", "name", "expected", "actual")}
                for r in failed[:MAX_LIST]
            ],
            "row_count": _count(metrics.get("rowCount")),
            "bytes": _count(metrics.get("bytes")),
            "file_count": _count(metrics.get("fileCount")),
            "null_counts": dict(list(null_counts.items())[:MAX_LIST]),
            "columns": dict(list(columns.items())[:MAX_LIST]),
            "columns_total": len(columns),
        },
        records=records,
    )


def _dataset_evidence(datasets: list[tuple[Subject, dict, dict]], key: str, at, job: str) -> list[EvidenceFacts]:
    out = []
    for index, (subject, entry, item) in enumerate(datasets):
        where = f"{key}[{index}]"
        for facts in (
            _data_quality(subject, entry, item, where, at, job),
            _dataset_version(subject, entry, item, where, at, job),
        ):
            if facts is not None:
                out.append(facts)
    return out


def _code_edges(job: dict, job_sub: Subject, subjects: list[Subject]) -> list[Edge]:
    """commit -built-from-> job from the job's sourceCodeLocation facet; the commit joins `subjects`."""
    job_facets = obj(job.get("facets"), "job.facets", LABEL)
    commit = commit_from_source_code_location(job_facets.get("sourceCodeLocation"))
    if commit is None:
        return []
    subjects.append(commit)
    return [Edge(source=commit, target=job_sub, relation="built-from")]


def _static_event(doc: dict, job: dict, inputs: list, outputs: list, at, producer: str) -> ParseResult:
    """A JobEvent or DatasetEvent (no run): "lineage-static" evidence with the datasets of the job."""
    if not job and "dataset" not in doc:
        raise ParseError(f"{LABEL}: expected a RunEvent (run, job), a JobEvent (job) or a DatasetEvent (dataset)")
    subjects = [s for s, _, _ in inputs + outputs]
    edges = []
    if job:
        namespace, name = _name(job, "job")
        job_sub = job_subject(namespace, name)
        subjects.insert(0, job_sub)
        edges = [Edge(source=s, target=job_sub, relation="derived-from") for s, _, _ in inputs]
        edges += [Edge(source=job_sub, target=s, relation="derived-from") for s, _, _ in outputs]
        edges += _code_edges(job, job_sub, subjects)
    if "dataset" in doc:
        subjects.append(dataset_subject(obj(doc["dataset"], "dataset", LABEL, required=True), "dataset"))
    first = text(subjects[0].name, 150) if subjects else ""
    job_label = "/".join(_name(job, "job")) if job else ""
    facts = _dataset_evidence(inputs, "inputs", at, job_label) + _dataset_evidence(outputs, "outputs", at, job_label)
    if "dataset" in doc:
        facts += _dataset_evidence(
            [
                (
                    subjects[-1],
                    dict(zip(("namespace", "name"), _name(doc["dataset"], "dataset"), strict=True)),
                    doc["dataset"],
                )
            ],
            "dataset",
            at,
            job_label,
        )
    return ParseResult(
        format=FORMAT,
        evidence=[
            EvidenceFacts(
                kind="lineage-static",
                title=f"OpenLineage {'job' if job else 'dataset'} event: {first}",
                verdict="info",
                verdict_reason="static lineage (no run)",
                effective_at=at,
                subjects=subjects,
                summary={
                    "producer": producer,
                    "inputs": [i for _, i, _ in inputs][:MAX_LIST],
                    "outputs": [o for _, o, _ in outputs][:MAX_LIST],
                },
                edges=edges,
            ),
            *facts,
        ],
    )


def _parent_edges(parent_run: dict, parent_job: dict, run_sub: Subject, edges: list[Edge]) -> list[Subject]:
    """The run that spawned this one (a DAG run scheduling its tasks): parent run -part-of-> run,
    parent job -run-of-> parent run, appended to `edges`; returns the parent subjects."""
    parent_subjects: list[Subject] = []
    if parent_run.get("runId") is not None:
        parent_sub = run_subject(text(parent_run.get("runId"), 200), text(parent_job.get("name"), 300))
        parent_subjects.append(parent_sub)
        if parent_sub.uri != run_sub.uri:
            edges.append(Edge(source=parent_sub, target=run_sub, relation="part-of"))
        if parent_job:
            parent_job_sub = job_subject(*_name(parent_job, "run.facets.parent.job"))
            parent_subjects.append(parent_job_sub)
            edges.append(Edge(source=parent_job_sub, target=parent_sub, relation="run-of"))
    return parent_subjects


@guard(LABEL)
def parse_openlineage(event: str, body: bytes) -> ParseResult:
    """One OpenLineage event; `event` is the eventType header we stored (the body decides)."""
    doc = load_json_object(body, LABEL)
    job = obj(doc.get("job"), "job", LABEL, required="run" in doc)
    inputs, outputs = _datasets(doc, "inputs"), _datasets(doc, "outputs")
    at = parse_datetime(doc.get("eventTime"))
    producer = text(doc.get("producer"), 300)
    if "run" not in doc:
        return _static_event(doc, job, inputs, outputs, at, producer)
    run = obj(doc.get("run"), "run", LABEL, required=True)
    event_type = text(doc.get("eventType"), 20).upper() or text(event, 20).upper() or "OTHER"
    if event_type not in EVENT_TYPES:
        raise ParseError(f"{LABEL}: eventType {event_type!r} is not one of {', '.join(EVENT_TYPES)}")
    namespace, name = _name(job, "job")
    job_sub = job_subject(namespace, name)
    run_sub = run_subject(text(run.get("runId"), 200), name)
    edges = [Edge(source=job_sub, target=run_sub, relation="run-of")]
    edges += [Edge(source=s, target=run_sub, relation="derived-from") for s, _, _ in inputs if s.uri != run_sub.uri]
    edges += [Edge(source=run_sub, target=s, relation="derived-from") for s, _, _ in outputs if s.uri != run_sub.uri]
    code_subjects: list[Subject] = []
    edges += _code_edges(job, job_sub, code_subjects)
    facets = obj(run.get("facets"), "run.facets", LABEL)
    parent = obj(facets.get("parent"), "run.facets.parent", LABEL)
    parent_run = obj(parent.get("run"), "run.facets.parent.run", LABEL)
    parent_job = obj(parent.get("job"), "run.facets.parent.job", LABEL)
    error = obj(facets.get("errorMessage"), "run.facets.errorMessage", LABEL)
    job_facets = obj(job.get("facets"), "job.facets", LABEL)
    sql = obj(job_facets.get("sql"), "job.facets.sql", LABEL)
    parent_subjects = _parent_edges(parent_run, parent_job, run_sub, edges)
    source_code = obj(job_facets.get("sourceCodeLocation"), "job.facets.sourceCodeLocation", LABEL)
    if event_type in ("FAIL", "ABORT"):
        verdict, reason = (
            "fail",
            f"the run ended {event_type.lower()}"
            + (f": {text(error.get('message'), 200)}" if error.get("message") else ""),
        )
    elif event_type == "COMPLETE":
        verdict, reason = "pass", "the run completed"
    else:
        verdict, reason = "info", f"run event {event_type}"
    summary = {
        "event_type": event_type,
        "run_id": text(run.get("runId"), 200),
        "job_namespace": namespace,
        "job_name": text(name, 300),
        "producer": producer,
        "schema_url": text(doc.get("schemaURL"), 300),
        "inputs": [i for _, i, _ in inputs][:MAX_LIST],
        "outputs": [o for _, o, _ in outputs][:MAX_LIST],
        "inputs_total": len(inputs),
        "outputs_total": len(outputs),
        "parent_run": text(parent_run.get("runId"), 200),
        "parent_job": "/".join(
            filter(None, [text(parent_job.get("namespace"), 200), text(parent_job.get("name"), 300)])
        ),
        "error": text(error.get("message"), 500),
        "source_code": text(source_code.get("url"), 500),
        "source_code_version": text(source_code.get("version"), 100),
        "sql": {"query": text(sql.get("query"), 5000), "dialect": text(sql.get("dialect"), 100)} if sql else {},
        "run_facets": sorted(text(k, 100) for k in facets)[:MAX_LIST],
    }
    title = (
        f"OpenLineage {event_type} {text(name, 150)}: {plural(len(inputs), 'input')}, {plural(len(outputs), 'output')}"
    )
    return ParseResult(
        format=FORMAT,
        evidence=[
            EvidenceFacts(
                kind="lineage-run",
                title=title,
                verdict=verdict,
                verdict_reason=reason,
                effective_at=at,
                subjects=[run_sub, job_sub, *[s for s, _, _ in inputs + outputs], *parent_subjects, *code_subjects],
                summary=summary,
                edges=edges,
            ),
            *_dataset_evidence(inputs, "inputs", at, f"{namespace}/{name}"),
            *_dataset_evidence(outputs, "outputs", at, f"{namespace}/{name}"),
        ],
    )
