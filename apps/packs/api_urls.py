from django.urls import path

from apps.packs import api

app_name = "packs-api"

urlpatterns = [
    path("packs", api.PackListCreateApi.as_view(), name="list"),
    path("packs/<int:pk>", api.PackDetailApi.as_view(), name="detail"),
    path("packs/<int:pk>/download", api.PackDownloadApi.as_view(), name="download"),
]
