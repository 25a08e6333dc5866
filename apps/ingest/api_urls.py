from django.urls import path

from apps.ingest import api, evidence_api
from apps.ingest.connectors import api as connector_api

app_name = "ingest-api"

# Paths exactly as in the contract (no trailing slash).
urlpatterns = [
    # GET: the evidence list (users); POST: an upload (sources). See EvidenceCollectionApi.
    path("evidence", evidence_api.EvidenceCollectionApi.as_view(), name="evidence"),
    path("ingest/github", api.github_webhook, name="github"),
    path("ingest/gitlab", api.gitlab_webhook, name="gitlab"),
    path("receipts/<int:pk>", api.ReceiptDetailApi.as_view(), name="receipt"),
    path("ingest/mlflow", connector_api.MlflowWebhookApi.as_view(), name="mlflow"),
    path("ingest/oci", connector_api.OciNotificationApi.as_view(), name="oci"),
    path("ingest/openlineage", connector_api.OpenLineageApi.as_view(), name="openlineage"),
]
