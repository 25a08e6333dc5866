from django.urls import path

from apps.evidence import api
from apps.evidence.lineage import api as lineage_api

app_name = "evidence-api"

# GET and POST /api/v1/evidence are one view in intake (ingest-api:evidence): apps.ingest.evidence_api.

urlpatterns = [
    path("evidence/<int:pk>", api.EvidenceDetailApi.as_view(), name="detail"),
    path("artifacts/<int:pk>", api.ArtifactDetailApi.as_view(), name="artifact"),
    path("artifacts/<int:pk>/lineage", lineage_api.ArtifactLineageApi.as_view(), name="artifact-lineage"),
    path("lineage/path", lineage_api.LineagePathApi.as_view(), name="lineage-path"),
    path("lineage/releases/<int:pk>/chain", lineage_api.ReleaseChainApi.as_view(), name="release-chain"),
    path("lineage/impact", lineage_api.LineageImpactApi.as_view(), name="lineage-impact"),
    path("systems/<slug:slug>/production", lineage_api.SystemProductionApi.as_view(), name="system-production"),
]
