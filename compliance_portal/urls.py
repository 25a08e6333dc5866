from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from compliance_portal.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.urls")),
    path("systems/", include("apps.inventory.urls")),
    path("ledger/", include("apps.ledger.urls")),
    path("evidence/", include("apps.evidence.urls")),
    path("", include("apps.ingest.urls")),
    path("api/v1/", include("apps.inventory.api_urls")),
    path("api/v1/", include("apps.ingest.api_urls")),
    path("api/v1/", include("apps.evidence.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apps.dashboard.urls")),
]
