"""The sequencer loop: gives committed ledger entries their indexes, typically within 200 ms
(a partial batch waits SEQUENCER_GATHER_SECONDS for more, so a steady trickle of writes is
sequenced in batches rather than one transaction per entry)."""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.ledger.services import SEQUENCER_BATCH, SEQUENCER_GATHER_SECONDS, ledger_integrate, ledger_sequencer_pause
from compliance_portal.heartbeat import heartbeat_touch


class Command(BaseCommand):
    help = "Run the ledger sequencer until stopped (one per deployment; extra ones wait on a lock)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.2, help="seconds to sleep when idle")
        parser.add_argument(
            "--gather", type=float, default=SEQUENCER_GATHER_SECONDS, help="seconds to wait after a partial batch"
        )
        parser.add_argument("--once", action="store_true", help="sequence what is pending and exit")

    def handle(self, *args, interval, gather, once, **options):
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            heartbeat_touch("sequencer")  # its container health check reads this (compliance_portal/heartbeat.py)
            close_old_connections()
            done = ledger_integrate(max_batch=SEQUENCER_BATCH)
            if once and not done:
                return
            pause = 0.0 if once else ledger_sequencer_pause(done, idle=interval, gather=gather)
            if pause:
                time.sleep(pause)
