from django.urls import path

from apps.evidence import views
from apps.evidence.lineage import views as lineage_views

app_name = "evidence"

# The raw body download (/evidence/<pk>/raw) reads the blob store of intake: ingest:evidence_raw.

urlpatterns = [
    path("", views.evidence_list, name="list"),
    path("<int:pk>/", views.evidence_detail, name="detail"),
    path("artifacts/<int:pk>/", views.artifact_detail, name="artifact"),
    path("artifacts/<int:pk>/lineage/", lineage_views.artifact_lineage_panel, name="artifact_lineage"),
]
