"""OpenAPI security schemes of the source credentials (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SourceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.ingest.auth.SourceTokenAuthentication"
    name = "sourceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A source's bearer token (cps_…), printed once by create_source or the Sources page.",
        }


class GitHubSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.ingest.auth.GitHubSignatureAuthentication"
    name = "githubSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Hub-Signature-256",
            "description": "sha256=<HMAC-SHA256 of the raw body with the source's signing secret>; the source is "
            "named by ?source=<id>.",
        }


class GitLabTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.ingest.auth.GitLabTokenAuthentication"
    name = "gitlabToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Gitlab-Token",
            "description": "The source's secret token; the source is named by ?source=<id>.",
        }
