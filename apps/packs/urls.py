from django.urls import path

from apps.packs import views

app_name = "packs"

urlpatterns = [
    path("", views.pack_list, name="list"),
    path("<int:pk>/", views.pack_detail, name="detail"),
    path("<int:pk>/cancel/", views.pack_cancel_view, name="cancel"),
    path("<int:pk>/download/", views.pack_download_view, name="download"),
    path("<int:pk>/report.pdf", views.pack_report_view, name="report"),
]
