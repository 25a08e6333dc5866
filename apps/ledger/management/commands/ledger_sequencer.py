"""The sequencer loop: gives committed ledger entries their indexes, typically within 200 ms."""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.ledger.services import ledger_integrate


class Command(BaseCommand):
    help = "Run the ledger sequencer until stopped (one per deployment; extra ones wait on a lock)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.2, help="seconds to sleep when idle")
        parser.add_argument("--once", action="store_true", help="sequence what is pending and exit")

    def handle(self, *args, interval, once, **options):
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            close_old_connections()
            done = ledger_integrate()
            if once and not done:
                return
            if not done:
                time.sleep(interval)
