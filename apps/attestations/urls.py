from django.urls import path

from apps.attestations import views

app_name = "attestations"

urlpatterns = [
    path("controls/<int:control_pk>/documents/upload", views.document_upload_view, name="upload"),
    path("controls/<int:control_pk>/attestations/new", views.attestation_create_view, name="attest"),
    path("documents/<int:pk>/decide", views.document_decide_view, name="decide"),
]
