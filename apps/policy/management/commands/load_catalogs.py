"""Load the shipped framework catalogs and the default rule set (idempotent; migrate runs it too)."""

from django.core.management.base import BaseCommand

from apps.policy.services import catalogs_load_shipped, rules_load_default


class Command(BaseCommand):
    help = "Load the shipped OSCAL catalogs and the default rule set. Safe to run again: unchanged data writes nothing."

    def handle(self, *args, **options):
        frameworks = catalogs_load_shipped(actor="system:load_catalogs")
        rules = rules_load_default(actor="system:load_catalogs", enqueue=True)
        self.stdout.write(f"{frameworks} framework(s) loaded or updated, {len(rules)} rule(s) with a new version")
