from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "apps.ingest"
    label = "ingest"
    verbose_name = "Evidence ingestion"

    def ready(self):
        # OpenAPI descriptions of the source credentials (drf-spectacular extensions register on import).
        from apps.ingest import schema  # noqa: F401
