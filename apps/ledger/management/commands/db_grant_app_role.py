"""Grant the portal's app role what it needs, run as the migration role (the schema's owner) after migrate."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from apps.ledger.dbroles import db_app_role_grant


class Command(BaseCommand):
    help = (
        "Grant ROLE (the role the portal connects as in prod) read and write on the portal's tables, "
        "only SELECT and INSERT on the ledger, and no TRUNCATE. Run as the schema's owner after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the app role, e.g. portal_app")
        parser.add_argument("--database", default="default")

    def handle(self, *args, role: str, database: str, **options):
        try:
            statements = db_app_role_grant(role=role, using=database)
        except DatabaseError as exc:
            raise CommandError(f"granting {role!r} failed: {exc}") from exc
        self.stdout.write(f"granted {role}: {len(statements)} statements applied")
