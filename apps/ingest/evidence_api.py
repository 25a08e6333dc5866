"""/api/v1/evidence: the upload (POST, sources; intake) and the list (GET, users; evidence) on one path.

Here, in intake, because intake is the layer above evidence: it may use both views.
"""

from rest_framework.views import APIView

from apps.evidence.api import EvidenceListApi
from apps.ingest.api import EvidenceUploadApi


class EvidenceCollectionApi(EvidenceUploadApi, EvidenceListApi):
    """The contract puts the list (GET, users) and the upload (POST, sources) on one path,
    /api/v1/evidence; each method keeps its own authentication, permissions, throttles and parsers."""

    def initialize_request(self, request, *args, **kwargs):
        self._method = request.method  # the authenticators and parsers below depend on it
        return super().initialize_request(request, *args, **kwargs)

    def _side(self):
        return EvidenceUploadApi if getattr(self, "_method", "GET") == "POST" else EvidenceListApi

    def get_authenticators(self):
        return [auth() for auth in self._side().authentication_classes]

    def get_permissions(self):
        return [perm() for perm in self._side().permission_classes]

    def get_throttles(self):
        return [throttle() for throttle in self._side().throttle_classes]

    def get_parsers(self):
        return [parser() for parser in self._side().parser_classes]

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":
            return EvidenceUploadApi.initial(self, request, *args, **kwargs)
        return APIView.initial(self, request, *args, **kwargs)
