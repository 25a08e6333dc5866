from django.urls import path

from apps.connectors import api

app_name = "connectors-api"

# Paths exactly as in the contract (no trailing slash), next to the other ingest endpoints.
urlpatterns = [
    path("ingest/mlflow", api.MlflowWebhookApi.as_view(), name="mlflow"),
    path("ingest/oci", api.OciNotificationApi.as_view(), name="oci"),
    path("ingest/openlineage", api.OpenLineageApi.as_view(), name="openlineage"),
]
