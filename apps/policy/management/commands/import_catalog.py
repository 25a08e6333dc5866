"""Import a programme's own framework from an OSCAL catalog file."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.policy.services import catalog_import


class Command(BaseCommand):
    help = "Import an OSCAL catalog (JSON) as a framework: python manage.py import_catalog FILE [--code CODE]"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--code", default=None, help="framework code (default: from the catalog)")

    def handle(self, *args, file, code, **options):
        try:
            framework = catalog_import(actor="system:import_catalog", data=Path(file).read_bytes(), code=code)
        except (OSError, ValidationError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"imported {framework.code}: {framework.controls.count()} controls")
