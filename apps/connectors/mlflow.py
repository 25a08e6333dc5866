"""MLflow tracking server and model registry, through its REST API 2.0.

Each sync lists the registered models (registered-models/search) and their versions
(model-versions/search per model; both cheap and paginated) and compares them with the
cursor; only what changed is fetched in full:

- a version whose last_updated_timestamp is new: runs/get of its source run (params,
  metrics, tags, dataset inputs), metrics/get-history of each of its metrics (every logged value,
  not only the last) and artifacts/list of the run (two folder levels) → one ``sync.model_version``
  document; small JSON artifacts that look like reports (model card, metrics, fairness,
  validation) are fetched too and kept as files about the model version (channel pull);
- an alias now pointing at another version → ``sync.alias_change``;
- a stage that changed (MLflow's older stage workflow) → ``sync.stage_change``.

Cursor: {"versions": {"<model>/<version>": last_updated_timestamp}, "stages": {...: stage},
"aliases": {"<model>": {"<alias>": "<version>"}}}. Options: {"models": ["name", ...]} to
sync only those models (default: all). See apps/formats/mlflow.py for the documents.
"""

from __future__ import annotations

import re

from django.utils import timezone

from apps.connectors.base import Connector, ConnectorError, Document, Emit, json_document

API = "api/2.0/mlflow/"
PAGE = 100
REPORT_FILE = re.compile(r"(model[_-]?card|metrics|fairness|validation|evaluation|report)[^/]*\.json$", re.I)
REPORT_MAX_BYTES = 2 * 1024 * 1024
MAX_PAGES = 1000
MAX_ARTIFACTS = 500
MAX_HISTORY_METRICS = 200  # metrics whose history a version's document carries
MAX_HISTORY_POINTS = 10_000  # points kept per metric
HISTORY_PAGE = 5000


class MlflowConnector(Connector):
    kind = "mlflow"

    def _pages(self, path: str, key: str, params: dict) -> list[dict]:
        items, token = [], None
        for _ in range(MAX_PAGES):
            answer = self.http.get(API + path, params={**params, "page_token": token}).json()
            items += answer.get(key) or []
            token = answer.get("next_page_token")
            if not token:
                return items
        raise ConnectorError(f"{path}: more than {MAX_PAGES} pages; narrow the models option")

    def _models(self) -> list[dict]:
        wanted = self.options.get("models") or []
        models = self._pages("registered-models/search", "registered_models", {"max_results": PAGE})
        return [m for m in models if not wanted or m.get("name") in wanted]

    def sync(self, cursor: dict, emit: Emit) -> dict:
        seen_versions = dict(cursor.get("versions") or {})
        seen_stages = dict(cursor.get("stages") or {})
        seen_aliases = {k: dict(v) for k, v in (cursor.get("aliases") or {}).items()}
        now = timezone.now().isoformat()
        for model in self._models():
            name = model.get("name") or ""
            quoted = name.replace("'", "\\'")
            versions = self._pages(
                "model-versions/search", "model_versions", {"filter": f"name='{quoted}'", "max_results": 200}
            )
            by_version = {str(v.get("version")): v for v in versions}
            for version in versions:
                key = f"{name}/{version.get('version')}"
                updated = str(version.get("last_updated_timestamp") or version.get("creation_timestamp") or "")
                if seen_versions.get(key) != updated:
                    self._emit_version(model, version, emit)
                    seen_versions[key] = updated
                stage = version.get("current_stage") or "None"
                if stage != seen_stages.get(key, "None") and stage != "None":
                    emit(
                        json_document(
                            "mlflow",
                            "sync.stage_change",
                            {
                                "document": "mlflow.stage-change/v1",
                                "model_version": version,
                                "previous_stage": seen_stages.get(key, "None"),
                                "observed_at": now,
                            },
                            key=key,
                        )
                    )
                seen_stages[key] = stage
            current = {str(a.get("alias")): str(a.get("version")) for a in model.get("aliases") or []}
            before = seen_aliases.get(name, {})
            for alias, version in sorted(current.items()):
                if before.get(alias) != version:
                    emit(
                        json_document(
                            "mlflow",
                            "sync.alias_change",
                            {
                                "document": "mlflow.alias-change/v1",
                                "model": name,
                                "alias": alias,
                                "version": version,
                                "previous_version": before.get(alias),
                                "observed_at": now,
                                "model_version": by_version.get(version),
                            },
                            key=f"{name}@{alias}",
                        )
                    )
            for alias in sorted(set(before) - set(current)):
                emit(
                    json_document(
                        "mlflow",
                        "sync.alias_change",
                        {
                            "document": "mlflow.alias-change/v1",
                            "model": name,
                            "alias": alias,
                            "version": None,
                            "previous_version": before[alias],
                            "observed_at": now,
                            "model_version": None,
                        },
                        key=f"{name}@{alias}",
                    )
                )
            seen_aliases[name] = current
        return {"versions": seen_versions, "stages": seen_stages, "aliases": seen_aliases}

    def _artifacts(self, run_id: str) -> list[dict]:
        """The run's artifact listing, two directory levels deep (reports often sit in a folder)."""
        files, folders = [], [""]
        for _ in range(2):
            deeper = []
            for folder in folders:
                listing = self.http.get(
                    API + "artifacts/list", params={"run_id": run_id, "path": folder}, ok=(200, 404)
                )
                for item in (listing.json().get("files") or []) if listing.status == 200 else []:
                    files.append(item)
                    if item.get("is_dir") and len(deeper) < 20:
                        deeper.append(item.get("path") or "")
            folders = deeper
        return files[:MAX_ARTIFACTS]

    def _metric_history(self, run_id: str, run: dict) -> dict[str, list[dict]]:
        """Every logged value of each of the run's metrics (metrics/get-history, paginated)."""
        history: dict[str, list[dict]] = {}
        for item in ((run.get("data") or {}).get("metrics") or [])[:MAX_HISTORY_METRICS]:
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str) or key in history:
                continue
            points, token = [], None
            while len(points) < MAX_HISTORY_POINTS:
                answer = self.http.get(
                    API + "metrics/get-history",
                    params={"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE, "page_token": token},
                    ok=(200, 404),
                )
                if answer.status != 200:
                    break
                page = answer.json()
                points += page.get("metrics") or []
                token = page.get("next_page_token")
                if not token:
                    break
            history[key] = points[:MAX_HISTORY_POINTS]
        return history

    def _emit_version(self, model: dict, version: dict, emit: Emit) -> None:
        run, files, history = None, [], {}
        run_id = version.get("run_id")
        if run_id:
            answer = self.http.get(API + "runs/get", params={"run_id": run_id}, ok=(200, 404))
            run = answer.json().get("run") if answer.status == 200 else None
            if run is not None:
                files = self._artifacts(run_id)
                history = self._metric_history(run_id, run)
        name, number = version.get("name"), version.get("version")
        emit(
            json_document(
                "mlflow",
                "sync.model_version",
                {
                    "document": "mlflow.model-version/v1",
                    "tracking_uri": self.endpoint,
                    "registered_model": {k: v for k, v in model.items() if k != "latest_versions"},
                    "model_version": version,
                    "run": run,
                    "metric_history": history,
                    "artifacts": files,
                },
                key=f"{name}/{number}",
            )
        )
        for item in files:
            path = item.get("path") or ""
            size = int(item.get("file_size") or 0)
            if item.get("is_dir") or not REPORT_FILE.search(path) or size > REPORT_MAX_BYTES:
                continue
            # The tracking server's artifact proxy (mlflow server --serve-artifacts, the default).
            answer = self.http.get("get-artifact", params={"path": path, "run_uuid": run_id}, ok=(200, 404))
            if answer.status != 200:
                continue
            emit(
                Document(
                    channel="pull",
                    event="mlflow.artifact",
                    body=answer.body,
                    subject=f"mlflow://{str(name).replace('/', '%2F')}/{number}",
                    filename=path.rsplit("/", 1)[-1],
                    content_type="application/json",
                    key=f"{name}/{number}/{path}",
                )
            )
