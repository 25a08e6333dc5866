"""`manage.py ledger_export`: the log export (the JSON Lines of GET /api/v1/ledger/entries) to a file,
and the signed checkpoints next to it, ready for `compliance_verify.py EXPORT --checkpoint CHECKPOINTS`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.ledger.selectors import checkpoint_list, ledger_export_lines
from apps.ledger.services import tree_size
from apps.ledger.verify import encode_hash


class Command(BaseCommand):
    help = "Write ledger entries [start, end) as JSON Lines, and the checkpoints as JSON, for offline verification."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="the export file (JSON Lines)")
        parser.add_argument("--checkpoints", help="where to write the checkpoints (default: OUTPUT.checkpoints.json)")
        parser.add_argument("--start", type=int, default=0)
        parser.add_argument("--end", type=int, default=None, help="one past the last index (default: all)")

    def handle(self, *args, output, checkpoints, start, end, **options):
        size = tree_size()
        end = size if end is None else min(end, size)
        if start < 0 or start > end:
            raise CommandError(f"--start {start} must be between 0 and --end {end}")
        path = Path(output)
        count = 0
        with open(path, "wb") as fh:
            for line in ledger_export_lines(start=start, end=end):
                fh.write(line)
                count += 1
        notes = Path(checkpoints) if checkpoints else path.with_name(path.name + ".checkpoints.json")
        rows = [{"size": c.size, "root": encode_hash(bytes(c.root)), "note": c.note}
                for c in checkpoint_list(limit=10**9) if c.size <= end]
        notes.write_text(json.dumps({"checkpoints": rows}, indent=1), encoding="utf-8")
        self.stdout.write(f"wrote {count} entries [{start}, {end}) to {path} and {len(rows)} checkpoints to {notes}")
