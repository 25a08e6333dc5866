from django.urls import path

from apps.evidence import api

app_name = "evidence-api"

urlpatterns = [
    # GET: the evidence list (users); POST: an upload (sources). See EvidenceCollectionApi.
    path("evidence", api.EvidenceCollectionApi.as_view(), name="collection"),
    path("evidence/<int:pk>", api.EvidenceDetailApi.as_view(), name="detail"),
    path("artifacts/<int:pk>", api.ArtifactDetailApi.as_view(), name="artifact"),
]
