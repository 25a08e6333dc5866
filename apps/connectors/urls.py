from django.urls import path

from apps.connectors import views

app_name = "connectors"

urlpatterns = [
    path("sources/<int:pk>/sync/", views.source_sync_now, name="source_sync"),
]
