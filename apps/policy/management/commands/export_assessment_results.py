"""Write a framework's results as an OSCAL assessment-results document."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.inventory.models import System
from apps.policy.models import Framework
from apps.policy.views import oscal_export_document


class _Everyone:
    """The operator running the command sees every system."""

    is_authenticated = True
    is_superuser = True
    roles = frozenset({"admin"})


class Command(BaseCommand):
    help = "Print (or write) OSCAL assessment results: export_assessment_results CODE [--system SLUG] [--as-of DAY]"

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--system", default="")
        parser.add_argument("--as-of", default="", help="YYYY-MM-DD: the state at the end of that day")
        parser.add_argument("--output", "-o", default="-")

    def handle(self, *args, code, system, as_of, output, **options):
        framework = Framework.objects.filter(code=code).first()
        if framework is None:
            raise CommandError(
                f"no framework {code!r}; known: {', '.join(Framework.objects.values_list('code', flat=True))}"
            )
        target = System.objects.filter(slug=system).first() if system else None
        if system and target is None:
            raise CommandError(f"no system {system!r}")
        day = date.fromisoformat(as_of) if as_of else None
        user = User.objects.filter(is_superuser=True).first() or _Everyone()
        doc = oscal_export_document(user=user, framework=framework, system=target, as_of=day)
        text = json.dumps(doc, indent=2)
        if output == "-":
            self.stdout.write(text)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
