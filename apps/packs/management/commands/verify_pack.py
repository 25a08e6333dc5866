"""`manage.py verify_pack FILE.zip`: the stand-alone verifier's checks, with the portal's own keys trusted."""

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.services import trusted_verifier_keys
from apps.packs.bundle import trusted_pack_keys
from apps.packs.offline.core import PackVerificationError, verify_pack


class Command(BaseCommand):
    help = "Verify an evidence pack (ZIP or unpacked directory): file hashes, DSSE signature, ledger inclusion proofs."

    def add_arguments(self, parser):
        parser.add_argument("pack", help="the pack ZIP, or the directory it was unpacked into")
        parser.add_argument("--trusted-key", action="append", default=[],
                            help="trust this pack signing key instead of the portal's own keys")

    def handle(self, *args, pack, trusted_key, **options):

        try:
            report = verify_pack(pack, trusted_keys=trusted_key or trusted_pack_keys(),
                                 ledger_keys=trusted_verifier_keys())
        except PackVerificationError as exc:
            raise CommandError(f"FAILED: {exc}") from None
        self.stdout.write(report.summary())
