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
