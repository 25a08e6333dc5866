"""`manage.py generate_scale --evidence N`: a synthetic data set of a large organisation (dev, test, bench)."""

from __future__ import annotations

import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.scale.generator import GenerationRefused, ScaleSpec, generate


class Command(BaseCommand):
    help = (
        "Generate a realistic synthetic data set on top of the demo data: systems, releases, lineage, evidence, "
        "results, exceptions, rollups and the ledger. Defaults scale with --evidence (at 1,000,000: 10,000 "
        "releases, 100,000 lineage nodes, 5,000 exceptions, ~200 systems). Refuses a database that already "
        "holds a generated set: generate into a fresh database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--evidence", type=int, required=True, help="evidence items (e.g. 10000, 1000000)")
        parser.add_argument("--releases", type=int, help="release artifacts (default: evidence / 100)")
        parser.add_argument("--lineage-nodes", type=int, help="artifacts in the lineage graph (default: evidence / 10)")
        parser.add_argument("--lineage-depth", type=int, default=8, help="longest upstream walk, in hops (default 8)")
        parser.add_argument("--exceptions", type=int, help="exception requests (default: evidence / 200)")
        parser.add_argument("--systems", type=int, help="systems, demo ones included (default: ~200 at 1M)")
        parser.add_argument("--history-days", type=int, default=90, help="days of daily rollups (default 90)")
        parser.add_argument("--seed", type=int, default=10, help="random seed (default 10)")
        parser.add_argument(
            "--processes",
            type=int,
            default=os.cpu_count() or 1,
            help="processes writing evidence, results and rollups side by side (default: the CPU count)",
        )
        parser.add_argument(
            "--ledger",
            choices=["sequence", "pending"],
            default="sequence",
            help="sequence and checkpoint the ledger at the end (default), or leave it pending",
        )
        parser.add_argument("--json", action="store_true", help="print the final counts as JSON")

    def handle(self, *args, **o):
        if not settings.PORTAL_DEMO_DATA:
            raise CommandError("generate_scale builds on the demo data and refuses to run in the prod profile.")
        spec = ScaleSpec(
            evidence=o["evidence"],
            releases=o["releases"],
            lineage_nodes=o["lineage_nodes"],
            lineage_depth=o["lineage_depth"],
            exceptions=o["exceptions"],
            systems=o["systems"],
            history_days=max(1, o["history_days"]),
            seed=o["seed"],
            processes=max(1, o["processes"]),
            ledger=o["ledger"] == "sequence",
        )
        try:
            counts = generate(spec, progress=lambda msg: self.stdout.write(msg))
        except GenerationRefused as exc:
            raise CommandError(str(exc)) from exc
        if o["json"]:
            self.stdout.write(json.dumps(counts.__dict__, default=str))
            return
        self.stdout.write("generated:")
        for key in (
            "systems",
            "users",
            "sources",
            "artifacts",
            "edges",
            "receipts",
            "evidence",
            "results",
            "result_changes",
            "coverage_rows",
            "ledger_entries",
        ):
            self.stdout.write(f"  {key:<16} {getattr(counts, key):>12,}")
        self.stdout.write(f"  artifacts by kind  {json.dumps(counts.artifacts_by_kind)}")
        self.stdout.write(f"  evidence by kind   {json.dumps(counts.evidence_by_kind)}")
        self.stdout.write(f"  verdicts           {json.dumps(counts.verdicts)}")
        self.stdout.write(f"  exceptions         {json.dumps(counts.exceptions_by_status)}")
        self.stdout.write(f"  seconds            {sum(counts.seconds.values()):.1f}")
