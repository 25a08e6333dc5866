from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.dashboard.views import system_detail
from apps.inventory import urls as inventory_urls
from apps.packs.views import verification_keys, verifier_download, verifier_page
from compliance_portal.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Published for third-party verification, readable without signing in.
    path(".well-known/compliance-portal/keys.json", verification_keys, name="verification-keys"),
    path("verify/", verifier_page, name="verifier"),
    path("verify/compliance_verify.py", verifier_download, name="verifier-download"),
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.urls")),
    # A system's page shows its controls, so the output layer (dashboard) serves it under inventory's name.
    path(
        "systems/",
        include(
            (
                [*inventory_urls.urlpatterns, path("<slug:slug>/", system_detail, name="detail")],
                inventory_urls.app_name,
            )
        ),
    ),
    path("ledger/", include("apps.ledger.urls")),
    path("evidence/", include("apps.evidence.urls")),
    path("engagements/", include("apps.engagements.urls")),
    path("search/", include("apps.search.urls")),
    path("packs/", include("apps.packs.urls")),
    path("approvals/", include("apps.approvals.urls")),
    path("exceptions/", include("apps.exceptions.urls")),
    path("releases/", include("apps.releases.urls")),
    path("retention/", include("apps.retention.urls")),
    path("", include("apps.ingest.urls")),
    path("", include("apps.connectors.urls")),
    path("", include("apps.policy.urls")),
    path("", include("apps.attestations.urls")),
    path("api/v1/", include("apps.inventory.api_urls")),
    path("api/v1/", include("apps.ledger.api_urls")),
    path("api/v1/", include("apps.ingest.api_urls")),
    path("api/v1/", include("apps.connectors.api_urls")),
    path("api/v1/", include("apps.evidence.api_urls")),
    path("api/v1/", include("apps.policy.api_urls")),
    path("api/v1/", include("apps.search.api_urls")),
    path("api/v1/", include("apps.packs.api_urls")),
    path("api/v1/", include("apps.exceptions.api_urls")),
    path("api/v1/", include("apps.releases.api_urls")),
    path("api/v1/", include("apps.attestations.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP); its page
    # keeps one fixed <style> block, allowed here (and only here) by its hash.
    path(
        "api/docs/",
        csp_update({"style-src": ["'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("", include("apps.dashboard.urls")),
]

if settings.PORTAL_OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))

handler400 = "compliance_portal.api.bad_request"
handler403 = "compliance_portal.api.permission_denied"
handler404 = "compliance_portal.api.not_found"
handler500 = "compliance_portal.api.server_error"
