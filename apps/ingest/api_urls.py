from django.urls import path

from apps.ingest import api

app_name = "ingest-api"

# Paths exactly as in the contract (no trailing slash). POST /api/v1/evidence lives in
# apps.evidence.api_urls, next to the GET of the same path.
urlpatterns = [
    path("ingest/github", api.github_webhook, name="github"),
    path("ingest/gitlab", api.gitlab_webhook, name="gitlab"),
    path("receipts/<int:pk>", api.ReceiptDetailApi.as_view(), name="receipt"),
]
