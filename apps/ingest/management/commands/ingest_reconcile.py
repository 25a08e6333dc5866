"""ingest_reconcile [--source NAME|ID …] [--sent N --accepted N] [--settled] [--json]: do the counts match?

Counts, per source and overall, the receipts by state, the evidence, and the ledger's
`receipt.accepted` / `receipt.parsed` entries, and exits non-zero (naming each mismatch) when
something was lost or done twice: a receipt without its accepted entry, a parsed receipt
without evidence, evidence no finished parse accounts for, a receipt parsed twice, a failed
receipt without a reason, a receipt stuck past the sweep. A sender that kept its own counts
passes them as --sent/--accepted (deliveries sent, and distinct receipts it was given) and
they are checked against the database too. --settled also requires every receipt to be
parsed or failed (after a fault test or a drain, not on a live system).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from apps.ingest.models import ReceiptState, Source
from apps.ingest.selectors import SourceReconciliation, reconciliation_summary


class Command(BaseCommand):
    help = "Reconcile what was accepted, processed and recorded in the ledger; non-zero exit on a mismatch."

    def add_arguments(self, parser):
        parser.add_argument("--source", action="append", default=[], help="source name or id (repeatable)")
        parser.add_argument("--sent", type=int, help="deliveries the client sent (its own count)")
        parser.add_argument("--accepted", type=int, help="distinct receipts the client was given (its own count)")
        parser.add_argument("--settled", action="store_true", help="every receipt must be parsed or failed")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object, not a table")

    def handle(self, *args, source, sent, accepted, settled, as_json: bool, **options):
        source_ids = [self._source_id(s) for s in source] or None
        if (sent is not None or accepted is not None) and not source_ids:
            raise CommandError("--sent/--accepted are a client's counts for its source(s): name them with --source")
        result = reconciliation_summary(source_ids=source_ids)
        problems = [f"{r.name}: {p}" for r in result.sources for p in r.problems(settled=settled)]
        problems += [f"client: {p}" for p in result.total.client_problems(sent=sent, accepted=accepted)]
        if as_json:
            self.stdout.write(_as_json(result, problems, sent=sent, accepted=accepted))
        else:
            self._table([*result.sources, result.total])
            for problem in problems:
                self.stdout.write(f"MISMATCH {problem}")
        if problems:
            raise CommandError(f"{len(problems)} mismatch(es): {'; '.join(problems)}"[:2000])
        if not as_json:
            self.stdout.write(self.style.SUCCESS("reconciled: every accepted receipt is accounted for"))

    def _source_id(self, value: str) -> int:
        source = Source.objects.filter(pk=int(value)).first() if value.isdigit() else None
        source = source or Source.objects.filter(name=value).first()
        if source is None:
            raise CommandError(f"there is no source {value!r}")
        return source.pk

    def _table(self, rows: list[SourceReconciliation]) -> None:
        columns = [
            ("source", lambda r: r.name[:30]),
            ("receipts", lambda r: r.receipts),
            *[(state, lambda r, s=state: r.by_state.get(s, 0)) for state in ReceiptState.values],
            ("stuck", lambda r: r.stuck),
            ("evidence", lambda r: r.evidence),
            ("parsed w/o evidence", lambda r: r.parsed_without_evidence),
            ("evidence w/o receipt", lambda r: r.evidence_without_receipt),
            ("ledger accepted", lambda r: r.accepted_entries),
            ("parsed twice", lambda r: r.parsed_more_than_once),
        ]
        table = [[name for name, _ in columns]] + [[str(get(r)) for _, get in columns] for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                        for i, (cell, w) in enumerate(zip(line, widths, strict=True))))


def _as_json(result, problems: list[str], *, sent: int | None, accepted: int | None) -> str:
    def one(r: SourceReconciliation) -> dict:
        return {**asdict(r), "settled": r.settled}

    return json.dumps(
        {
            "sources": [one(r) for r in result.sources],
            "total": one(result.total),
            "client": {"sent": sent, "accepted": accepted},
            "ok": not problems,
            "problems": problems,
        },
        indent=2,
    )
