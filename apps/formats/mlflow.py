"""MLflow tracking server and model registry JSON: pulled snapshots and registry webhooks.

Bodies arrive on the "mlflow" channel with an event name (Receipt.event):

- ``sync.model_version``: what the connector (apps.connectors.mlflow) fetched about one
  model version, each REST answer embedded unchanged::

      {"document": "mlflow.model-version/v1", "tracking_uri": "http://mlflow:5000",
       "registered_model": <registered-models/get .registered_model>,
       "model_version": <model-versions/get .model_version>,
       "run": <runs/get .run> | null,
       "metric_history": {"<metric key>": [<metrics/get-history .metrics[]>, ...]},
       "artifacts": [<artifacts/list .files[]>, ...]}

- ``sync.alias_change`` / ``sync.stage_change``: a promotion the connector saw by comparing
  with its cursor: ``{"document": "mlflow.alias-change/v1", "model", "alias", "version",
  "previous_version", "observed_at", "model_version": <model-versions/get> | null}`` and
  ``{"document": "mlflow.stage-change/v1", "model_version": …, "previous_stage", "observed_at"}``.
- ``<entity>.<action>``: an MLflow 3 registry webhook delivery, ``{"entity", "action",
  "timestamp", "data"}`` (model_version.created, model_version_alias.created/deleted,
  model_version_tag.set/deleted, registered_model.created, …).

Evidence: a model version (kind "model-version"), its run's metrics ("metrics") and
fairness metrics ("fairness", names as in mlreports.FAIRNESS_WORDS, e.g.
demographic_parity_difference), and approvals ("approval") for alias and stage changes.
A metric's whole history (every logged value, not only the last) is kept with it: the summary's
``history`` {name: {points, first, last, min, max, series: [[step, value], ...]}} (the series
evenly sampled down to HISTORY_SERIES points, the last one always kept) and one record per point
{metric, step, value, timestamp}.

MLflow's webhook test (``MlflowClient.test_webhook``) sends the example payload of the event
(``WEBHOOK_TEST_EXAMPLES``, model "example_model"): ``is_webhook_test`` recognises it so the
endpoint answers it without keeping it (apps.connectors.api).

Who and when, as MLflow records it: MLflow OSS keeps no actor for alias or stage moves.
A stage change is dated by the version's last_updated_timestamp; an alias change by the
webhook's timestamp or the time the sync saw it. The approver is the model version's
``approved_by`` tag when the team sets one, else unknown; ``registered_by`` is the
version's user_id.

Lineage (upstream -> downstream): dataset -trained-on-> run (MLflow dataset inputs with
context "training" or none; other contexts: evaluated-on) and the same from the dataset
to the model version, run -derived-from-> model version, commit -built-from-> run and model
version (tags mlflow.source.git.commit + mlflow.source.git.repoURL), model version
-promoted-to-> a deployment named after the alias or stage
(``deployment:mlflow/<model>/<alias>/<version>``). Deployments end (issue 20): a new
promotion to an alias or stage ends the version there before it; a deleted alias ends its
deployment; a version leaving a stage ends its deployment in that stage.

Identities: model versions ``mlflow://<model>/<version>`` (subjects.normalize_subject),
runs ``mlflow-run:<run id>``, datasets ``dataset:sha256:<hex>`` when MLflow's digest or
the ``dataset.sha256`` tag is a sha256, else ``mlflow-dataset:<name>@<digest>`` (with MLflow's
digest as the artifact's digest); the dataset's source (its ``source`` JSON's uri, url or path)
is kept in the summary's ``datasets``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from .base import (
    MAX_LIST,
    Edge,
    Ending,
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
from .mlreports import _is_fairness
from .subjects import commit_from_tags, normalize_subject

LABEL = "MLflow"
FORMAT = "mlflow"
_HEX64 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
DATASET_TAGS = ("dataset.sha256", "dataset_sha256", "dataset.digest", "dataset_digest", "dataset")
TRAINING_CONTEXTS = ("", "train", "training")
# Aliases and stages that mean "serving in production": their deployments count as production.
PRODUCTION_NAMES = frozenset({"production", "prod", "champion", "live"})
HISTORY_SERIES = 200  # points of a metric's history kept in the summary (all of them go to records)
HISTORY_RECORDS = 10_000  # history points kept as records, all metrics together

# The example payloads MLflow's webhook test sends (mlflow.webhooks.types, <Payload>.example(), MLflow 3.3+):
# a delivery whose data is exactly one of these is a test of the webhook, not a registry event.
_EXAMPLE_TAGS = {"example_key": "example_value"}
WEBHOOK_TEST_EXAMPLES: dict[tuple[str, str], dict] = {
    ("registered_model", "created"): {
        "name": "example_model", "tags": _EXAMPLE_TAGS, "description": "An example registered model",
    },
    ("model_version", "created"): {
        "name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678",
        "tags": _EXAMPLE_TAGS, "description": "An example model version",
    },
    ("model_version_tag", "set"): {"name": "example_model", "version": "1", "key": "example_key",
                                   "value": "example_value"},
    ("model_version_tag", "deleted"): {"name": "example_model", "version": "1", "key": "example_key"},
    ("model_version_alias", "created"): {"name": "example_model", "alias": "example_alias", "version": "1"},
    ("model_version_alias", "deleted"): {"name": "example_model", "alias": "example_alias"},
    ("prompt", "created"): {"name": "example_prompt", "tags": _EXAMPLE_TAGS, "description": "An example prompt"},
    ("prompt_version", "created"): {
        "name": "example_prompt", "version": "1", "template": "Hello {{name}}!", "tags": _EXAMPLE_TAGS,
        "description": "An example prompt version",
    },
    ("prompt_tag", "set"): {"name": "example_prompt", "key": "example_key", "value": "example_value"},
    ("prompt_tag", "deleted"): {"name": "example_prompt", "key": "example_key"},
    ("prompt_version_tag", "set"): {"name": "example_prompt", "version": "1", "key": "example_key",
                                    "value": "example_value"},
    ("prompt_version_tag", "deleted"): {"name": "example_prompt", "version": "1", "key": "example_key"},
    ("prompt_alias", "created"): {"name": "example_prompt", "alias": "example_alias", "version": "1"},
    ("prompt_alias", "deleted"): {"name": "example_prompt", "alias": "example_alias"},
    ("budget_policy", "exceeded"): {
        "budget_policy_id": "bp-abc123", "budget_unit": "USD", "budget_amount": 100.0, "current_spend": 105.5,
        "duration_unit": "MONTHS", "duration_value": 1, "target_scope": "ENDPOINT", "workspace": "default",
        "target_value": "ep-abc123", "window_start": 1704067200000,
    },
}  # fmt: skip


def is_webhook_test(doc: dict) -> bool:
    """True when a webhook delivery is MLflow's test of the webhook: its event's example payload, exactly."""
    example = WEBHOOK_TEST_EXAMPLES.get((str(doc.get("entity", "")), str(doc.get("action", ""))))
    return example is not None and doc.get("data") == example


def _millis(value) -> datetime | None:
    """MLflow timestamps are epoch milliseconds (as numbers or, in JSON from protobuf, strings)."""
    millis = number(value)
    if millis is None:
        return None
    return parse_datetime(millis / 1000)


def _tags(value, where: str) -> dict[str, str]:
    """MLflow tags come as [{"key", "value"}] in REST answers and as {key: value} in webhooks."""
    if isinstance(value, dict):
        return {text(k, 250): text(v, 500) for k, v in value.items()}
    out = {}
    for item in arr(value, where, LABEL):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[text(item["key"], 250)] = text(item.get("value"), 500)
    return out


def model_version_subject(model: str, version) -> Subject:
    model = text(model, 250).strip()
    version = text(version, 50).strip()
    if not model or not version:
        raise ParseError(f"{LABEL}: a model version needs a model name and a version")
    return normalize_subject(f"mlflow://{model.replace('/', '%2F')}/{version}")


def run_subject(run_id: str, name: str = "") -> Subject:
    run_id = text(run_id, 100).strip()
    if not run_id or not re.match(r"^[A-Za-z0-9_-]+$", run_id):
        raise ParseError(f"{LABEL}: run id {run_id[:40]!r} is not an MLflow run id")
    return Subject(kind="run", uri=f"mlflow-run:{run_id}", name=text(name, 200) or f"run {run_id[:8]}")


def promotion_subject(model: str, name: str, version) -> Subject:
    """The deployment a promotion makes: the model version serving under an alias or stage."""
    model, name, version = text(model, 200), text(name, 100).lower(), text(version, 50)
    return Subject(
        kind="deployment",
        uri=f"deployment:mlflow/{model.replace('/', '%2F')}/{name}/{version}",
        name=f"{model}@{name} (v{version})",
    )


def promotion_slot(model: str, name: str) -> str:
    """The place a promotion runs in (an alias or stage of a model): its deployment identities without
    the version. A new promotion there ends the one before (apps.evidence.services)."""
    return promotion_subject(model, name, "0").uri.rsplit("/", 1)[0]


def dataset_subject(name: str, digest: str) -> Subject:
    match = _HEX64.match(digest or "")
    if match:
        return normalize_subject(f"dataset:sha256:{match.group(1)}")
    name, digest = text(name, 200) or "dataset", text(digest, 100)
    return Subject(
        kind="dataset",
        uri=f"mlflow-dataset:{name}@{digest}",
        digest=digest,
        name=f"{name} ({digest})" if digest else name,
    )


def _dataset_source(value) -> str:
    """Where a dataset came from: MLflow keeps its source as JSON text ({"uri": ...}, {"url": ...}, ...)."""
    raw = text(value, 2000)
    try:
        parsed = json.loads(raw) if raw.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("uri", "url", "path", "table_name"):
            if isinstance(parsed.get(key), str):
                return text(parsed[key], 500)
    return text(raw, 500)


def _commit_of(tags: dict[str, str]) -> Subject | None:
    """mlflow.source.git.commit + repoURL, or `git_sha`-style tags (subjects.commit_from_tags)."""
    return commit_from_tags(tags)


def _run_lineage(run: dict, run_sub: Subject) -> tuple[list[Subject], list[Edge], list[dict]]:
    """Datasets and commit upstream of a run."""
    data = obj(run.get("data"), "run.data", LABEL)
    tags = _tags(data.get("tags"), "run.data.tags")
    subjects, edges, datasets = [], [], []
    commit = _commit_of(tags)
    if commit:
        subjects.append(commit)
        edges.append(Edge(source=commit, target=run_sub, relation="built-from"))
    inputs = obj(run.get("inputs"), "run.inputs", LABEL)
    for index, item in enumerate(arr(inputs.get("dataset_inputs"), "run.inputs.dataset_inputs", LABEL)):
        item = obj(item, f"run.inputs.dataset_inputs[{index}]", LABEL, required=True)
        dataset = obj(item.get("dataset"), f"run.inputs.dataset_inputs[{index}].dataset", LABEL)
        input_tags = _tags(item.get("tags"), f"run.inputs.dataset_inputs[{index}].tags")
        context = input_tags.get("mlflow.data.context", "").lower()
        subject = dataset_subject(text(dataset.get("name"), 200), text(dataset.get("digest"), 100))
        subjects.append(subject)
        relation = "trained-on" if context in TRAINING_CONTEXTS else "evaluated-on"
        edges.append(Edge(source=subject, target=run_sub, relation=relation))
        datasets.append(
            {
                "name": text(dataset.get("name"), 200),
                "digest": text(dataset.get("digest"), 100),
                "source_type": text(dataset.get("source_type"), 100),
                "source": _dataset_source(dataset.get("source")),
                "context": context,
                "uri": subject.uri,
            }
        )
    for key in DATASET_TAGS:
        value = tags.get(key, "")
        match = _HEX64.match(value.removeprefix("dataset:"))
        if match:
            subject = dataset_subject(key, match.group(1))
            if subject not in subjects:
                subjects.append(subject)
                edges.append(Edge(source=subject, target=run_sub, relation="trained-on"))
                datasets.append({"name": key, "digest": subject.digest, "context": "tag", "uri": subject.uri})
    return subjects, edges, datasets


def _metrics(run: dict) -> tuple[dict[str, float], dict[str, float]]:
    data = obj(run.get("data"), "run.data", LABEL)
    metrics, fairness = {}, {}
    for index, item in enumerate(arr(data.get("metrics"), "run.data.metrics", LABEL)):
        if not isinstance(item, dict):
            raise ParseError(f"{LABEL}: run.data.metrics[{index}] must be an object")
        name, value = text(item.get("key"), 200), number(item.get("value"))
        if not name or value is None:
            continue
        (fairness if _is_fairness(name) else metrics)[name] = value
    return metrics, fairness


def _history(doc: dict) -> dict[str, list[tuple[float, float, str]]]:
    """Each metric's logged values as (step, value, time) in step order, from metrics/get-history answers."""
    out = {}
    history = obj(doc.get("metric_history"), "metric_history", LABEL)
    for name, points in list(history.items())[: MAX_LIST * 4]:
        series = []
        for index, point in enumerate(arr(points, f"metric_history.{text(name, 60)}", LABEL)):
            point = obj(point, f"metric_history.{text(name, 60)}[{index}]", LABEL, required=True)
            value = number(point.get("value"))
            if value is None:
                continue
            step = number(point.get("step")) or 0
            stamp = number(point.get("timestamp")) or 0
            series.append((step, value, stamp))
        series.sort(key=lambda p: (p[0], p[2]))
        if series:
            out[text(name, 200)] = [(int(s) if s == int(s) else s, v, iso(_millis(t))) for s, v, t in series]
    return out


def _history_facts(history: dict, names) -> tuple[dict, list[dict]]:
    """The summary's `history` for the metrics `names`, and their points as records."""
    summary, records = {}, []
    for name in names:
        series = history.get(name)
        if not series:
            continue
        values = [v for _, v, _ in series]
        if len(series) > HISTORY_SERIES:  # evenly sampled; the first and the last point always kept
            stride = (len(series) - 1) / (HISTORY_SERIES - 1)
            sampled = [series[round(i * stride)] for i in range(HISTORY_SERIES)]
        else:
            sampled = series
        summary[name] = {
            "points": len(series),
            "first": values[0],
            "last": values[-1],
            "min": min(values),
            "max": max(values),
            "series": [[s, v] for s, v, _ in sampled],
        }
        for step, value, at in series:
            if len(records) < HISTORY_RECORDS:
                records.append({"metric": name, "step": step, "value": value, "timestamp": at})
    return summary, records


def _model_version_evidence(doc: dict) -> list[EvidenceFacts]:
    mv = obj(doc.get("model_version"), "model_version", LABEL, required=True)
    registered = obj(doc.get("registered_model"), "registered_model", LABEL)
    run = doc.get("run")
    run = obj(run, "run", LABEL) if run is not None else {}
    model, version = text(mv.get("name"), 250), text(mv.get("version"), 50)
    subject = model_version_subject(model, version)
    tags = _tags(mv.get("tags"), "model_version.tags")
    aliases = [text(a, 100) for a in arr(mv.get("aliases"), "model_version.aliases", LABEL) if isinstance(a, str)]
    created = _millis(mv.get("creation_timestamp"))
    subjects, edges, datasets = [subject], [], []
    run_id = text(mv.get("run_id"), 100)
    run_info = obj(run.get("info"), "run.info", LABEL) if run else {}
    run_sub = None
    if run_id:
        run_sub = run_subject(run_id, text(run_info.get("run_name"), 200))
        subjects.append(run_sub)
        edges.append(Edge(source=run_sub, target=subject, relation="derived-from"))
        if run:
            upstream, run_edges, datasets = _run_lineage(run, run_sub)
            subjects += [s for s in upstream if s not in subjects]
            edges += run_edges
            # The data a model was trained or evaluated on, drawn into the model version itself too:
            # the version's lineage answers "which data" without going through the run.
            edges += [
                Edge(source=e.source, target=subject, relation=e.relation)
                for e in run_edges
                if e.source.kind == "dataset" and e.relation in ("trained-on", "evaluated-on")
            ]
    run_data = obj(run.get("data"), "run.data", LABEL) if run else {}
    commit = _commit_of(tags) or _commit_of(_tags(run_data.get("tags"), "run.data.tags"))
    if commit:
        if commit not in subjects:
            subjects.append(commit)
        edges.append(Edge(source=commit, target=subject, relation="built-from"))
    params = {}
    if run:
        for item in arr(run_data.get("params"), "run.data.params", LABEL):
            if isinstance(item, dict) and isinstance(item.get("key"), str) and len(params) < MAX_LIST:
                params[text(item["key"], 200)] = text(item.get("value"), 200)
    files = [
        {"path": text(f.get("path"), 300), "is_dir": bool(f.get("is_dir")), "size": number(f.get("file_size"))}
        for f in arr(doc.get("artifacts"), "artifacts", LABEL)[:200]
        if isinstance(f, dict)
    ]
    status = text(mv.get("status"), 40)
    stage = text(mv.get("current_stage"), 40)
    summary = {
        "model": model,
        "version": version,
        "status": status,
        "stage": stage,
        "aliases": aliases[:MAX_LIST],
        "registered_model_aliases": [
            {"alias": text(a.get("alias"), 100), "version": text(a.get("version"), 50)}
            for a in arr(registered.get("aliases"), "registered_model.aliases", LABEL)[:MAX_LIST]
            if isinstance(a, dict)
        ],
        "source": text(mv.get("source"), 500),
        "run_id": run_id,
        "run_name": text(run_info.get("run_name"), 200),
        "experiment_id": text(run_info.get("experiment_id"), 100),
        "registered_by": text(mv.get("user_id"), 200),
        "created_at": iso(created),
        "tags": dict(list(tags.items())[:MAX_LIST]),
        "params": params,
        "datasets": datasets[:MAX_LIST],
        "commit": commit.uri if commit else "",
        "artifacts": files[:MAX_LIST],
        "artifacts_total": len(files),
        "tracking_uri": text(doc.get("tracking_uri"), 300),
    }
    ready = status in ("", "READY")
    evidence = [
        EvidenceFacts(
            kind="model-version",
            title=f"Model version {text(model, 120)} v{version}"
            + (f" ({', '.join(aliases[:3])})" if aliases else (f" ({stage})" if stage and stage != "None" else "")),
            verdict="info" if ready else "fail",
            verdict_reason="registered" if ready else f"registration status {status}",
            effective_at=created,
            subjects=subjects,
            summary=summary,
            edges=edges,
            records=[{"artifact": f["path"], "is_dir": f["is_dir"], "size": f["size"]} for f in files],
        )
    ]
    if run:
        metrics, fairness = _metrics(run)
        ended = _millis(run_info.get("end_time")) or _millis(run_info.get("start_time")) or created
        common = {"model": model, "version": version, "run_id": run_id, "thresholds": [], "violations": []}
        history = _history(doc)
        if metrics:
            metrics_history, metrics_records = _history_facts(history, metrics)
            evidence.append(
                EvidenceFacts(
                    kind="metrics",
                    title=f"Metrics: {text(model, 120)} v{version}, {plural(len(metrics), 'metric')} (MLflow run)",
                    verdict="info",
                    verdict_reason="no thresholds given",
                    effective_at=ended,
                    subjects=[subject] + ([run_sub] if run_sub else []),
                    summary={
                        **common,
                        "shape": "mlflow-run",
                        "metrics_total": len(metrics),
                        "metrics": dict(list(metrics.items())[:MAX_LIST]),
                        "fairness_total": 0,
                        "fairness": {},
                        "history": dict(list(metrics_history.items())[:MAX_LIST]),
                    },
                    records=metrics_records,
                )
            )
        if fairness:
            fairness_history, fairness_records = _history_facts(history, fairness)
            evidence.append(
                EvidenceFacts(
                    kind="fairness",
                    title=f"Fairness: {text(model, 120)} v{version}, {plural(len(fairness), 'metric')} (MLflow run)",
                    verdict="info",
                    verdict_reason="no thresholds given",
                    effective_at=ended,
                    subjects=[subject] + ([run_sub] if run_sub else []),
                    summary={
                        **common,
                        "shape": "mlflow-run",
                        "metrics_total": 0,
                        "metrics": {},
                        "fairness_total": len(fairness),
                        "fairness": dict(list(fairness.items())[:MAX_LIST]),
                        "history": dict(list(fairness_history.items())[:MAX_LIST]),
                    },
                    records=fairness_records,
                )
            )
    return evidence


def _approval(
    *,
    model: str,
    version: str,
    name: str,
    how: str,
    at: datetime | None,
    approver: str,
    registered_by: str,
    previous: str,
    via: str,
) -> EvidenceFacts:
    subject = model_version_subject(model, version)
    target = promotion_subject(model, name, version)
    ends = []
    if how == "stage" and previous and previous != "None" and previous.lower() != name.lower():
        # The version left its previous stage: it no longer runs there.
        ends.append(Ending(deployment=promotion_subject(model, previous, version).uri))
    return EvidenceFacts(
        kind="approval",
        title=f"{text(model, 120)} v{version} promoted to {how} {name!r}"
        + (f" (was v{previous})" if previous and how == "alias" else (f" (was {previous})" if previous else "")),
        verdict="info",
        verdict_reason=f"{how} set in the MLflow registry; approver "
        + (approver if approver else "not recorded by MLflow (set an approved_by tag on the version)"),
        effective_at=at,
        subjects=[subject, target],
        summary={
            "action": f"{how}-set",
            "model": model,
            "version": version,
            how: name,
            "previous": previous,
            "approver": approver,
            "registered_by": registered_by,
            "at": iso(at),
            "production": name.lower() in PRODUCTION_NAMES,
            "via": via,
        },
        edges=[Edge(source=subject, target=target, relation="promoted-to")],
        ends=ends,
    )


def _alias_change(doc: dict) -> list[EvidenceFacts]:
    mv = obj(doc.get("model_version"), "model_version", LABEL)
    tags = _tags(mv.get("tags"), "model_version.tags")
    alias = text(doc.get("alias"), 100)
    if not alias:
        raise ParseError(f"{LABEL}: alias is missing")
    version = text(doc.get("version"), 50)
    if not version:  # the alias was removed: a fact worth keeping, but no promotion
        return [
            EvidenceFacts(
                kind="registry-event",
                title=f"{text(doc.get('model'), 120)}: alias {alias!r} removed",
                verdict="info",
                verdict_reason="alias deleted in the MLflow registry",
                effective_at=parse_datetime(doc.get("observed_at")),
                subjects=[],
                summary={
                    "action": "alias-deleted",
                    "model": text(doc.get("model"), 200),
                    "alias": alias,
                    "previous": text(doc.get("previous_version"), 50),
                },
                ends=[Ending(slot=promotion_slot(text(doc.get("model"), 250), alias))],
            )
        ]
    return [
        _approval(
            model=text(doc.get("model"), 250),
            version=version,
            name=alias,
            how="alias",
            at=parse_datetime(doc.get("observed_at")),
            approver=tags.get("approved_by", ""),
            registered_by=text(mv.get("user_id"), 200),
            previous=text(doc.get("previous_version"), 50),
            via="sync",
        )
    ]


def _stage_change(doc: dict) -> list[EvidenceFacts]:
    mv = obj(doc.get("model_version"), "model_version", LABEL, required=True)
    tags = _tags(mv.get("tags"), "model_version.tags")
    stage = text(mv.get("current_stage"), 40)
    if not stage or stage == "None":
        raise ParseError(f"{LABEL}: model_version.current_stage is {stage or 'missing'}; nothing was promoted")
    return [
        _approval(
            model=text(mv.get("name"), 250),
            version=text(mv.get("version"), 50),
            name=stage,
            how="stage",
            at=_millis(mv.get("last_updated_timestamp")) or parse_datetime(doc.get("observed_at")),
            approver=tags.get("approved_by", ""),
            registered_by=text(mv.get("user_id"), 200),
            previous=text(doc.get("previous_stage"), 40),
            via="sync",
        )
    ]


def _webhook(event: str, doc: dict) -> list[EvidenceFacts]:
    data = obj(doc.get("data"), "data", LABEL, required=True)
    at = parse_datetime(doc.get("timestamp"))
    entity, action = text(doc.get("entity"), 60), text(doc.get("action"), 60)
    model, version = text(data.get("name"), 250), text(data.get("version"), 50)
    if (entity, action) == ("model_version_alias", "created"):
        return [
            _approval(
                model=model,
                version=version,
                name=text(data.get("alias"), 100),
                how="alias",
                at=at,
                approver="",
                registered_by="",
                previous="",
                via="webhook",
            )
        ]
    subjects = []
    edges = []
    ends = []
    if (entity, action) == ("model_version_alias", "deleted") and model and text(data.get("alias"), 100):
        ends.append(Ending(slot=promotion_slot(model, text(data.get("alias"), 100))))  # the alias runs nothing now
    if model and version:
        subjects.append(model_version_subject(model, version))
        run_id = text(data.get("run_id"), 100)
        if (entity, action) == ("model_version", "created") and run_id:
            run_sub = run_subject(run_id)
            subjects.append(run_sub)
            edges.append(Edge(source=run_sub, target=subjects[0], relation="derived-from"))
    what = f"{entity}.{action}" if entity else event
    return [
        EvidenceFacts(
            kind="registry-event",
            title=f"MLflow {what}: {text(model, 120)}" + (f" v{version}" if version else ""),
            verdict="info",
            verdict_reason="MLflow registry webhook",
            effective_at=at,
            subjects=subjects,
            summary={
                "event": what,
                "model": model,
                "version": version,
                "alias": text(data.get("alias"), 100),
                "key": text(data.get("key"), 250),
                "value": text(data.get("value"), 500),
                "tags": _tags(data.get("tags"), "data.tags") if data.get("tags") is not None else {},
            },
            edges=edges,
            ends=ends,
        )
    ]


@guard(LABEL)
def parse_mlflow(event: str, body: bytes) -> ParseResult:
    """One MLflow document (see the module docstring for the events)."""
    doc = load_json_object(body, LABEL)
    event = text(event, 100)
    if event == "sync.model_version":
        evidence = _model_version_evidence(doc)
    elif event == "sync.alias_change":
        evidence = _alias_change(doc)
    elif event == "sync.stage_change":
        evidence = _stage_change(doc)
    elif "entity" in doc and "action" in doc:
        evidence = _webhook(event, doc)
    else:
        raise ParseError(
            f"{LABEL}: event {event[:60]!r} is neither a sync document (sync.model_version, sync.alias_change, "
            "sync.stage_change) nor a registry webhook with entity and action"
        )
    return ParseResult(format=FORMAT, evidence=evidence)
