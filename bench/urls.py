from django.http import HttpResponse
from django.urls import include, path


def bare(request):
    """The baseline: Django's request cycle and middleware with no work in the view."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare", bare),
    path("", include("compliance_portal.urls")),
]
