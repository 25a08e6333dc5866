"""Verify the whole ledger: every leaf, the tree, every checkpoint. Exit 0 or name the first bad index."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.ledger import merkle
from apps.ledger.models import Checkpoint
from apps.ledger.services import read_entries_with_leaves, root_at, trusted_verifier_keys, witness_notes
from apps.ledger.verify import VerificationError, verify_log


class Command(BaseCommand):
    help = (
        "Recompute every ledger leaf and the Merkle tree, check each checkpoint's signature and root, "
        "and compare with checkpoints kept outside the database. Exits non-zero naming the first bad entry."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint", action="append", default=[], type=Path, metavar="FILE",
            help="a checkpoint note kept elsewhere (an evidence pack, a published copy); may repeat",
        )
        parser.add_argument(
            "--key", action="append", default=[], metavar="VKEY",
            help="a trusted verifier key (default: the configured signing key and PORTAL_LEDGER_TRUSTED_KEYS)",
        )

    def handle(self, *args, checkpoint, key, **options):
        vkeys = key or trusted_verifier_keys()
        notes = list(Checkpoint.objects.order_by("size").values_list("note", flat=True))
        notes += witness_notes()
        notes += [path.read_text(encoding="utf-8") for path in checkpoint]
        notes = list(dict.fromkeys(notes))  # the witness repeats the database's own checkpoints
        try:
            summary = verify_log(self._entries(), notes, vkeys, origin=settings.PORTAL_LEDGER_ORIGIN)
            self._check_stored_tree()
        except VerificationError as exc:
            raise CommandError(f"ledger verification FAILED: {exc}") from None
        unverified = summary.entries - summary.verified_size
        self.stdout.write(
            f"ledger OK: {summary.entries} entries, {summary.checkpoints} checkpoints verified "
            f"(origin {summary.origin}); {unverified} newest entries not yet under a checkpoint"
        )

    def _entries(self):
        for index, canonical, stored_leaf in read_entries_with_leaves():
            if stored_leaf != merkle.leaf_hash(canonical):
                raise VerificationError(
                    "its bytes no longer hash to the leaf stored when it was sequenced (entry or tree altered)",
                    index=index,
                )
            yield index, canonical

    def _check_stored_tree(self):
        """The stored nodes (used to serve proofs) must give the latest checkpoint's root."""
        latest = Checkpoint.objects.order_by("-size").first()
        if latest is None or latest.size == 0:
            return
        if root_at(latest.size) != bytes(latest.root):
            raise VerificationError(
                f"stored tree nodes give a different root at size {latest.size} than the checkpoint",
                checkpoint_size=latest.size,
            )
