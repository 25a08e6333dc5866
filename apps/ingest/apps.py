from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "apps.ingest"
    label = "ingest"
    verbose_name = "Evidence ingestion"

    def ready(self):
        # OpenAPI descriptions of the source credentials (drf-spectacular extensions register on import).
        # S3 evidence storage: `manage.py check` verifies the bucket's object lock (ingest.E010).
        from django.conf import settings

        from apps.ingest import schema  # noqa: F401

        if settings.PORTAL_EVIDENCE_STORAGE == "s3":
            from apps.ingest import storage_s3  # noqa: F401

        from django.db.models import Exists, OuterRef

        from apps.accounts.scoping import scope_evidence
        from apps.evidence.models import Evidence
        from apps.ingest.models import Receipt
        from apps.ledger.scoping import ledger_object_scope_register

        def visible_receipts(user):
            # As the receipt API: a scoped auditor sees receipts whose evidence they may see.
            return Receipt.objects.filter(Exists(scope_evidence(user, Evidence.objects.filter(receipt=OuterRef("pk")))))

        # The receipt pages are for the holders of ingest.view_receipt (admins): no link for other readers.
        ledger_object_scope_register(
            "ingest.receipt", visible_receipts, opens=lambda user: user.has_perm("ingest.view_receipt")
        )
