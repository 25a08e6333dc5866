"""Pull connectors are their own app: above ingest, same tables, same task names, same URLs."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps as django_apps
from django.conf import settings
from django.urls import reverse

from compliance_portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_connectors_is_an_installed_app_of_its_own():
    config = django_apps.get_app_config("connectors")
    assert config.name == "apps.connectors"
    assert "apps.connectors" in settings.INSTALLED_APPS
    assert not (ROOT / "apps" / "ingest" / "connectors" / "services.py").exists()


def test_ingest_imports_nothing_from_connectors():
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "apps" / "ingest").rglob("*.py")
        for name in _imports(path)
        if name == "apps.connectors" or name.startswith(("apps.connectors.", "apps.ingest.connectors"))
    }
    assert offenders == set()


def test_persisted_task_names_still_name_the_connector_tasks():
    celery_app.loader.import_default_modules()
    for name, function in (
        ("apps.ingest.tasks.source_sync_due", "source_sync_due"),
        ("apps.ingest.tasks.source_sync", "source_sync"),
    ):
        task = celery_app.tasks[name]
        assert (task.run.__module__, task.run.__name__) == ("apps.connectors.tasks", function)
    scheduled = settings.CELERY_BEAT_SCHEDULE["source-sync-due"]["task"]
    assert scheduled == "apps.ingest.tasks.source_sync_due" and scheduled in celery_app.tasks


def test_connector_urls_keep_their_paths():
    assert reverse("connectors:source_sync", args=[7]) == "/sources/7/sync/"
    assert reverse("connectors-api:mlflow") == "/api/v1/ingest/mlflow"
    assert reverse("connectors-api:oci") == "/api/v1/ingest/oci"
    assert reverse("connectors-api:openlineage") == "/api/v1/ingest/openlineage"


def test_sync_runs_belong_to_connectors_and_keep_their_table():
    from apps.connectors.models import SyncRun

    assert SyncRun._meta.app_label == "connectors"
    assert SyncRun._meta.db_table == "ingest_syncrun"
    assert SyncRun._meta.get_field("source").related_model._meta.label == "ingest.Source"
