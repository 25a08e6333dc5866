from django.urls import path

from apps.policy import api

app_name = "policy-api"

urlpatterns = [
    # The subject is an artifact id or its URL-encoded identity (slashes may stay encoded or not).
    path("gates/<path:subject>", api.GateApi.as_view(), name="gate"),
    path("gates", api.GateQueryApi.as_view(), name="gate-query"),
    path("control-results", api.ControlResultListApi.as_view(), name="results"),
    path("frameworks", api.FrameworkListApi.as_view(), name="frameworks"),
    path("frameworks/import", api.CatalogImportApi.as_view(), name="catalog-import"),
    path("frameworks/<slug:code>/assessment-results", api.AssessmentResultsApi.as_view(), name="assessment-results"),
]
