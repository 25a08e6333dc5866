from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Pull connectors (MLflow, OCI registries) and the push endpoints of those kinds; above ingest."""

    name = "apps.connectors"
    label = "connectors"
    verbose_name = "Pull connectors"

    def ready(self):
        # OpenAPI security schemes of the connector push endpoints (drf-spectacular extensions register on import).
        from apps.connectors import schema  # noqa: F401
