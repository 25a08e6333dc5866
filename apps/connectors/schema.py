"""OpenAPI security schemes of the connector push endpoints (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MlflowSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.connectors.api.MlflowSignatureAuthentication"
    name = "mlflowSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-MLflow-Signature",
            "description": "v1,<base64 HMAC-SHA256 of '<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<body>' with the "
            "source's signing secret>; the source is named by ?source=<id>.",
        }


class OciTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.connectors.api.OciTokenAuthentication"
    name = "ociSourceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The bearer token of an OCI registry source (cps_…), in the notification headers.",
        }


class OpenLineageTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.connectors.api.OpenLineageTokenAuthentication"
    name = "openlineageSourceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The bearer token of an OpenLineage source (cps_…), the HTTP transport's API key.",
        }
