from django.urls import path

from apps.ingest import api, evidence_api

app_name = "ingest-api"

# Paths exactly as in the contract (no trailing slash).
urlpatterns = [
    # GET: the evidence list (users); POST: an upload (sources). See EvidenceCollectionApi.
    path("evidence", evidence_api.EvidenceCollectionApi.as_view(), name="evidence"),
    path("ingest/github", api.github_webhook, name="github"),
    path("ingest/gitlab", api.gitlab_webhook, name="gitlab"),
    path("receipts/<int:pk>", api.ReceiptDetailApi.as_view(), name="receipt"),
]
