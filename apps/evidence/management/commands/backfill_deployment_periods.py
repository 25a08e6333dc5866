"""backfill_deployment_periods [--batch-size N]: give deployment edges written without a period one.

    manage.py backfill_deployment_periods --batch-size 5000

Migration 0008 runs the same backfill once; run this again after loading old data or an import that
wrote edges without periods (lineage_edges_bulk_record gives them periods since issue 20). Safe
to run twice: it touches only edges still without a period, or running ones a later deployment of
their slot ended. One ledger entry per
edge changed (actor "system:backfill_deployment_periods"). See apps.evidence.lineage.backfill.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.evidence.lineage.backfill import deployment_periods_backfill_run


class Command(BaseCommand):
    help = "Give deployment edges written without a period (valid_from, valid_to) one from the data."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000, help="Edges per transaction (default 5000).")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        done = deployment_periods_backfill_run(batch_size=batch_size)
        self.stdout.write(
            f"{done.changed} deployment edges changed: {done.periods} got a period, {done.ended} running ones "
            f"ended, {done.skipped} left without one (an edge with the same start exists)"
        )
