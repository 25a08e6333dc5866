from django.core.management.base import BaseCommand

from apps.ledger.services import ledger_checkpoint, ledger_integrate_all


class Command(BaseCommand):
    help = "Sequence pending entries and sign a checkpoint now; prints the signed note."

    def handle(self, *args, **options):
        ledger_integrate_all()
        checkpoint = ledger_checkpoint(force=True)
        self.stdout.write(checkpoint.note)
