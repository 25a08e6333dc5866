"""create_source --kind KIND --name NAME [--system SLUG]: prints the credentials once, as JSON."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ingest.models import Source
from apps.ingest.services import source_create
from apps.inventory.models import System


class Command(BaseCommand):
    help = 'Create an ingestion source; prints {"id", "kind", "token", "secret"} (shown this once).'

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=Source.Kind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument("--system", default="", help="slug of the system its evidence belongs to")

    def handle(self, *args, kind, name, system, **options):
        target = None
        if system:
            target = System.objects.filter(slug=system).first()
            if target is None:
                raise CommandError(f"there is no system {system!r}")
        try:
            credentials = source_create(actor="system:create_source", kind=kind, name=name, system=target)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(json.dumps(credentials.as_json()))
