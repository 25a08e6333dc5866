from django.urls import path

from apps.retention import views

app_name = "retention"

urlpatterns = [
    path("", views.retention_report_page, name="report"),
    path("holds/new/", views.hold_create, name="hold_create"),
    path("holds/<int:pk>/", views.hold_detail, name="hold"),
    path("holds/<int:pk>/release/", views.hold_release, name="hold_release"),
    path("systems/<slug:slug>/data-policy/", views.data_policy_update, name="data_policy"),
]
