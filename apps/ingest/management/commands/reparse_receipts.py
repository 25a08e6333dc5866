"""reparse_receipts [--failed] [IDS…]: queue receipts to be parsed again (after a parser fix)."""

from django.core.management.base import BaseCommand, CommandError

from apps.common.states import InvalidTransition
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_reparse


class Command(BaseCommand):
    help = "Queue failed (--failed) and/or the given receipts to be parsed again; their raw bodies are kept."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="receipt ids (failed or parsed)")
        parser.add_argument("--failed", action="store_true", help="every failed receipt")

    def handle(self, *args, ids, failed, **options):
        wanted = list(ids)
        if failed:
            wanted += list(
                Receipt.objects.filter(state=Receipt.State.FAILED).order_by("id").values_list("id", flat=True)
            )
        if not wanted:
            raise CommandError("name receipt ids, or --failed")
        queued, refused = 0, 0
        for receipt_id in dict.fromkeys(wanted):
            try:
                receipt_reparse(actor="system:reparse_receipts", receipt_id=receipt_id)
                queued += 1
            except Receipt.DoesNotExist:
                self.stderr.write(f"receipt {receipt_id}: no such receipt")
                refused += 1
            except InvalidTransition as exc:
                self.stderr.write(str(exc))
                refused += 1
        self.stdout.write(f"{queued} receipt(s) queued to be parsed again, {refused} left alone")
        if refused and not queued:
            raise CommandError("nothing was queued")
