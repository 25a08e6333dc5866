"""sync_source ID [--endpoint URL …]: configure a pull source's connector and/or sync it now."""

import json
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.connectors.models import SyncRun
from apps.connectors.services import SyncRefused, source_connector_configure, source_sync
from apps.ingest.models import Source


class Command(BaseCommand):
    help = "Sync a pull source (MLflow, OCI registry) now; with --endpoint, configure it first. Prints the SyncRun."

    def add_arguments(self, parser):
        parser.add_argument("source_id", type=int)
        parser.add_argument("--endpoint", help="the MLflow tracking server or registry URL")
        parser.add_argument("--username", default="", help="HTTP basic user (password from --password-env)")
        parser.add_argument("--password-env", default="", help="name of the environment variable with the password")
        parser.add_argument("--token-env", default="", help="name of the environment variable with a bearer token")
        parser.add_argument("--repository", action="append", default=[], help="registry repository (repeat)")
        parser.add_argument("--model", action="append", default=[], help="MLflow registered model (repeat)")
        parser.add_argument("--registry-host", default="", help="registry name used in image identities")
        parser.add_argument("--interval", type=int, help="seconds between scheduled syncs (at least 60)")
        parser.add_argument("--configure-only", action="store_true", help="store the settings, do not sync")

    def handle(
        self,
        *args,
        source_id,
        endpoint,
        username,
        password_env,
        token_env,
        repository,
        model,
        registry_host,
        interval,
        configure_only,
        **options,
    ):
        if not Source.objects.filter(pk=source_id).exists():
            raise CommandError(f"there is no source {source_id}")
        if endpoint:
            credentials = None
            if username or token_env:
                # Secrets come from the environment, never from the command line (shell history, ps).
                credentials = {
                    "username": username,
                    "password": os.environ.get(password_env, "") if password_env else "",
                    "token": os.environ.get(token_env, "") if token_env else "",
                }
            options_ = {}
            if repository:
                options_["repositories"] = repository
            if model:
                options_["models"] = model
            if registry_host:
                options_["registry_host"] = registry_host
            try:
                source_connector_configure(
                    actor="system:sync_source",
                    source_id=source_id,
                    endpoint_url=endpoint,
                    credentials=credentials,
                    options=options_,
                    sync_interval=interval,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        if configure_only:
            return
        try:
            run = source_sync(source_id=source_id, trigger=SyncRun.Trigger.COMMAND, actor="system:sync_source")
        except SyncRefused as exc:
            raise CommandError(str(exc)) from None
        if run is None:
            raise CommandError(f"source {source_id} is being synced right now; try again when that run ends")
        self.stdout.write(
            json.dumps(
                {
                    "sync_run": run.pk,
                    "status": run.status,
                    "items": run.items,
                    "new_receipts": run.new_receipts,
                    "error": run.error,
                }
            )
        )
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"sync failed: {run.error}")
