"""search_reconcile [--batch N]: index every piece of evidence that is not in the search index yet.

Beat does the same every minute, a bounded number at a time (`search-reconcile`); this command runs until
none is left: after restoring a backup, after a long broker outage, or on a data set loaded by other means.
"""

from django.core.management.base import BaseCommand

from apps.search.content import RECONCILE_BATCH, evidence_search_reconcile


class Command(BaseCommand):
    help = "Index the words inside every piece of evidence that is not in the search index yet."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=RECONCILE_BATCH, help="evidence per transaction")

    def handle(self, *args, batch: int, **options):
        indexed = evidence_search_reconcile(batch=max(1, batch))
        self.stdout.write(f"indexed {indexed} pieces of evidence")
