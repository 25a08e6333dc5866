from django.urls import path

from apps.policy import views

app_name = "policy"

urlpatterns = [
    path("controls/", views.control_list, name="control_list"),
    path("controls/<str:control_id>/", views.control_detail, name="control_detail"),
    path("rules/", views.rule_index, name="rule_list"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/validate", views.rule_validate, name="rule_validate"),
    path("rules/dry-run", views.rule_dry_run_view, name="rule_dry_run"),
    path("rules/dry-run/<int:pk>", views.rule_dry_run_status, name="rule_dry_run_status"),
    path("rules/<slug:key>/", views.rule_detail, name="rule_detail"),
    path("rules/<slug:key>/edit/", views.rule_edit, name="rule_edit"),
    path("frameworks/import/", views.catalog_import_view, name="catalog_import"),
    path("frameworks/<slug:code>/assessment-results.json", views.oscal_export, name="oscal_export"),
]
