"""OpenLineage events (https://openlineage.io/spec): run events, and job and dataset events.

A RunEvent ``{"eventType": START|RUNNING|COMPLETE|ABORT|FAIL|OTHER, "eventTime",
"run": {"runId", "facets"}, "job": {"namespace", "name", "facets"}, "inputs": [...],
"outputs": [...], "producer", "schemaURL"}`` becomes one "lineage-run" evidence about
the run, with the job and every dataset as subjects and these edges (upstream ->
downstream): job -run-of-> run, input dataset -derived-from-> run, run -derived-from->
output dataset, parent run (facet "parent") -contains-> run is not drawn (the parent is
recorded in the summary), and commit -built-from-> job when the job's "sourceCodeLocation"
facet names a repository and version (subjects.commit_from_source_code_location). A JobEvent
or DatasetEvent (no run) becomes "lineage-static" evidence with the datasets of the job.

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


def _datasets(doc: dict, key: str) -> list[tuple[Subject, dict]]:
    out = []
    for index, item in enumerate(arr(doc.get(key), key, LABEL)[:1000]):
        item = obj(item, f"{key}[{index}]", LABEL, required=True)
        subject = dataset_subject(item, f"{key}[{index}]")
        namespace, name = _name(item, f"{key}[{index}]")
        out.append((subject, {"namespace": namespace, "name": text(name, 300), "uri": subject.uri}))
    return out


def _code_edges(job: dict, job_sub: Subject, subjects: list[Subject]) -> list[Edge]:
    """commit -built-from-> job from the job's sourceCodeLocation facet; the commit joins `subjects`."""
    job_facets = obj(job.get("facets"), "job.facets", LABEL)
    commit = commit_from_source_code_location(job_facets.get("sourceCodeLocation"))
    if commit is None:
        return []
    subjects.append(commit)
    return [Edge(source=commit, target=job_sub, relation="built-from")]


@guard(LABEL)
def parse_openlineage(event: str, body: bytes) -> ParseResult:
    """One OpenLineage event; `event` is the eventType header we stored (the body decides)."""
    doc = load_json_object(body, LABEL)
    job = obj(doc.get("job"), "job", LABEL, required="run" in doc)
    inputs, outputs = _datasets(doc, "inputs"), _datasets(doc, "outputs")
    at = parse_datetime(doc.get("eventTime"))
    producer = text(doc.get("producer"), 300)
    if "run" not in doc:
        if not job and "dataset" not in doc:
            raise ParseError(f"{LABEL}: expected a RunEvent (run, job), a JobEvent (job) or a DatasetEvent (dataset)")
        subjects = [s for s, _ in inputs + outputs]
        edges = []
        if job:
            namespace, name = _name(job, "job")
            job_sub = job_subject(namespace, name)
            subjects.insert(0, job_sub)
            edges = [Edge(source=s, target=job_sub, relation="derived-from") for s, _ in inputs]
            edges += [Edge(source=job_sub, target=s, relation="derived-from") for s, _ in outputs]
            edges += _code_edges(job, job_sub, subjects)
        if "dataset" in doc:
            subjects.append(dataset_subject(obj(doc["dataset"], "dataset", LABEL, required=True), "dataset"))
        first = text(subjects[0].name, 150) if subjects else ""
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
                        "inputs": [i for _, i in inputs][:MAX_LIST],
                        "outputs": [o for _, o in outputs][:MAX_LIST],
                    },
                    edges=edges,
                )
            ],
        )
    run = obj(doc.get("run"), "run", LABEL, required=True)
    event_type = text(doc.get("eventType"), 20).upper() or text(event, 20).upper() or "OTHER"
    if event_type not in EVENT_TYPES:
        raise ParseError(f"{LABEL}: eventType {event_type!r} is not one of {', '.join(EVENT_TYPES)}")
    namespace, name = _name(job, "job")
    job_sub = job_subject(namespace, name)
    run_sub = run_subject(text(run.get("runId"), 200), name)
    edges = [Edge(source=job_sub, target=run_sub, relation="run-of")]
    edges += [Edge(source=s, target=run_sub, relation="derived-from") for s, _ in inputs if s.uri != run_sub.uri]
    edges += [Edge(source=run_sub, target=s, relation="derived-from") for s, _ in outputs if s.uri != run_sub.uri]
    code_subjects: list[Subject] = []
    edges += _code_edges(job, job_sub, code_subjects)
    facets = obj(run.get("facets"), "run.facets", LABEL)
    parent = obj(facets.get("parent"), "run.facets.parent", LABEL)
    parent_run = obj(parent.get("run"), "run.facets.parent.run", LABEL)
    parent_job = obj(parent.get("job"), "run.facets.parent.job", LABEL)
    error = obj(facets.get("errorMessage"), "run.facets.errorMessage", LABEL)
    job_facets = obj(job.get("facets"), "job.facets", LABEL)
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
        "inputs": [i for _, i in inputs][:MAX_LIST],
        "outputs": [o for _, o in outputs][:MAX_LIST],
        "inputs_total": len(inputs),
        "outputs_total": len(outputs),
        "parent_run": text(parent_run.get("runId"), 200),
        "parent_job": "/".join(
            filter(None, [text(parent_job.get("namespace"), 200), text(parent_job.get("name"), 300)])
        ),
        "error": text(error.get("message"), 500),
        "source_code": text(source_code.get("url"), 500),
        "source_code_version": text(source_code.get("version"), 100),
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
                subjects=[run_sub, job_sub, *[s for s, _ in inputs + outputs], *code_subjects],
                summary=summary,
                edges=edges,
            )
        ],
    )
