from django.urls import path

from apps.attestations import api

app_name = "attestations-api"

urlpatterns = [
    path("documents", api.DocumentUploadApi.as_view(), name="upload"),
    path("documents/<int:pk>", api.DocumentDetailApi.as_view(), name="detail"),
    path("documents/<int:pk>/approve", api.DocumentApproveApi.as_view(), name="approve"),
    path("documents/<int:pk>/reject", api.DocumentRejectApi.as_view(), name="reject"),
    path("attestations", api.AttestationCreateApi.as_view(), name="create"),
]
