from django.core.management.base import BaseCommand

from apps.ledger.checkpoint import generate_signing_key


class Command(BaseCommand):
    help = "Make a new Ed25519 checkpoint signing key; prints the private key (keep secret) and the verifier key."

    def add_arguments(self, parser):
        parser.add_argument("name", help="key name, e.g. portal.example.org")

    def handle(self, *args, name, **options):
        skey, vkey = generate_signing_key(name)
        self.stdout.write(f"PORTAL_LEDGER_SIGNING_KEY={skey}\nverifier key (publish it): {vkey}")
