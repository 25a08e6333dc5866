from django.urls import path

from apps.evidence import views
from apps.evidence.lineage import views as lineage_views

app_name = "evidence"

urlpatterns = [
    path("", views.evidence_list, name="list"),
    path("<int:pk>/", views.evidence_detail, name="detail"),
    path("<int:pk>/raw", views.evidence_raw, name="raw"),
    path("artifacts/<int:pk>/", views.artifact_detail, name="artifact"),
    path("artifacts/<int:pk>/lineage/", lineage_views.artifact_lineage_panel, name="artifact_lineage"),
]
