"""Policy API: the CI gate, results, frameworks, OSCAL catalog import and assessment-results export."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_see_system
from apps.ingest.auth import IsSignedInUserOrEnabledSource, SourceTokenAuthentication
from apps.ingest.models import Source
from apps.policy.forms import AsOfForm
from apps.policy.models import Control, Framework, ResultStatus
from apps.policy.selectors import as_of_for_user, gate_for_subject, results_view, subject_get
from apps.policy.services import catalog_import
from apps.policy.views import export_params, oscal_export_document
from compliance_portal.api import JSONParser

ERROR = inline_serializer("PolicyError", {"error": serializers.CharField()})


class GateItem(serializers.Serializer):
    control = serializers.CharField()
    rule = serializers.CharField()
    severity = serializers.CharField()
    mode = serializers.ChoiceField(choices=["gate", "warn"])
    status = serializers.ChoiceField(choices=["fail", "missing"])
    reason = serializers.CharField(help_text="The engine's account: the fact values the rule's expression read.")
    message = serializers.CharField(
        help_text="What failed, in plain words with the facts filled in, e.g. '8 error-level findings in the "
        "latest static analysis scan; at most 0 allowed'."
    )


class GateOutput(serializers.Serializer):
    subject = serializers.CharField()
    allowed = serializers.BooleanField()
    failing = GateItem(many=True, help_text="Hard-gate results that fail or miss evidence: these block.")
    warnings = GateItem(many=True, help_text="Warning-mode results that fail or miss evidence: reported only.")
    evaluated_at = serializers.DateTimeField(allow_null=True)


NOT_EVALUATED = {
    "control": "",
    "rule": "",
    "severity": "high",
    "mode": "gate",
    "status": "missing",
    "reason": "the subject has not been evaluated yet: retry once its evidence has been parsed",
    "message": "This subject has not been evaluated yet: retry once its evidence has been parsed",
}


def _gate_item(item: dict) -> dict:
    """One gate item as the API answers it; items without a message of their own (release
    sign-off) answer their reason as the message."""
    out = {k: item[k] for k in GateItem().fields if k != "message"}
    out["message"] = item.get("message") or item["reason"]
    return out



def no_system_item(artifact) -> dict:
    """Why a subject of no system is never judged, and how to attach it (issue 17)."""
    return {
        **NOT_EVALUATED,
        "reason": (
            f"the subject {artifact.uri} belongs to no system, so no rule judges it: its evidence came from sources "
            "bound to no system. Attach it by sending its evidence with a source bound to its system "
            "(create_source --system SLUG), or by uploading with system=<slug>; then evidence counts from "
            "sources bound to that system or allowed for it by an admin"
        ),
    }


class GateApi(APIView):
    """GET /api/v1/gates/{subject}: may this release or deployment proceed?"""

    authentication_classes = [SourceTokenAuthentication, SessionAuthentication]
    permission_classes = [IsSignedInUserOrEnabledSource]

    @extend_schema(
        tags=["policy"],
        operation_id="gate_get",
        summary="CI gate: may this subject proceed?",
        description=(
            "The subject is an artifact id or its identity, URL-encoded (for example "
            "`git+https%3A%2F%2Fgithub.com%2Forg%2Frepo%40<sha>` or `oci://…@sha256:…`); `?subject=` works too. "
            "`allowed` is false when any hard-gate rule fails or misses evidence on the subject or on its "
            "system as a whole, when the subject has not been evaluated yet, or while new evidence about it "
            "or an upload naming it waits to be parsed or evaluated (the rule `evaluation-pending`: retry in a few "
            "seconds). "
            "Auth: a source's bearer token "
            "(sources bound to a system see only that system's subjects) or a user's session."
        ),
        parameters=[
            OpenApiParameter("subject", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False),
            OpenApiParameter("environment", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                             description="Where it is going (release sign-off applies to the policy's environments)."),
            OpenApiParameter("digest", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                             description="Digest of the exact artifact being shipped; refused unless signed off."),
        ],
        responses={200: GateOutput, 401: ERROR, 404: ERROR},
    )
    def get(self, request, subject: str = ""):
        subject = subject or request.query_params.get("subject", "")
        if not subject:
            raise exceptions.ParseError("name the subject: /api/v1/gates/<artifact id or URL-encoded identity>")
        artifact = subject_get(subject)
        source = request.auth if isinstance(request.auth, Source) else None
        if source is not None:
            if source.system_id and artifact.system_id != source.system_id:
                raise Http404("no such subject for this source's system")
        elif not can_see_system(request.user, artifact.system_id):
            raise Http404("no such subject")
        decision = gate_for_subject(
            artifact=artifact,
            environment=request.query_params.get("environment", "")[:20],
            digest=request.query_params.get("digest", "")[:200],
        )
        if artifact.system_id is None:
            failing = [no_system_item(artifact), *decision.failing]
        else:
            failing = decision.failing if decision.evaluated else [NOT_EVALUATED, *decision.failing]
        body = {
            "subject": artifact.uri,
            "allowed": decision.allowed,
            "failing": [_gate_item(item) for item in failing],
            "warnings": [_gate_item(item) for item in decision.warnings],
            "evaluated_at": decision.evaluated_at.isoformat().replace("+00:00", "Z") if decision.evaluated_at else None,
        }
        return Response(body)



class GateQueryApi(GateApi):
    """GET /api/v1/gates?subject=…: the same gate, with the subject as a query parameter
    (a separate view so that the OpenAPI schema has one operation id per path)."""

    @extend_schema(
        tags=["policy"],
        operation_id="gate_query",
        summary="CI gate, subject as a query parameter",
        parameters=[
            OpenApiParameter("subject", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True),
            OpenApiParameter("environment", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False),
            OpenApiParameter("digest", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False),
        ],
        responses={200: GateOutput, 400: ERROR, 401: ERROR, 404: ERROR},
    )
    def get(self, request, subject: str = ""):
        return super().get(request, subject)

class ResultOutput(serializers.Serializer):
    control = serializers.CharField(source="control.control_id")
    rule = serializers.CharField(source="rule_version.rule.key")
    rule_version = serializers.IntegerField(source="rule_version.version")
    system = serializers.CharField(source="system.slug")
    subject = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=ResultStatus.values)
    reason = serializers.CharField()
    evidence = serializers.SerializerMethodField()
    exception = serializers.IntegerField(source="exception_id", allow_null=True)
    at = serializers.DateTimeField(help_text="When the evaluation that produced it ran.")

    def get_subject(self, obj) -> str:
        return obj.artifact.uri if obj.artifact else f"system:{obj.system.slug}"

    def get_evidence(self, obj) -> list[str]:
        return [str(e) for e in obj.evidence_ids]


class ControlResultListApi(APIView):
    """GET /api/v1/control-results: results, filterable, current or as of a day."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["policy"],
        operation_id="control_results_list",
        summary="Control results (current, or as of the end of a day)",
        parameters=[
            OpenApiParameter("control", OpenApiTypes.STR, description="Control id, e.g. hipaa-164-312-a-2-iv"),
            OpenApiParameter("system", OpenApiTypes.STR, description="System slug"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=ResultStatus.values),
            OpenApiParameter("subject", OpenApiTypes.STR, description="Artifact id or identity"),
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="State at the end of this day (UTC)"),
        ],
        responses={200: ResultOutput(many=True)},
    )
    def get(self, request):
        params = request.query_params
        condition = Q()
        if params.get("control"):
            condition &= Q(control__in=Control.objects.for_ref(params["control"]))  # an id or "<code>:<id>"
        if params.get("system"):
            condition &= Q(system__slug=params["system"])
        if params.get("status"):
            if params["status"] not in ResultStatus.values:
                raise exceptions.ParseError(f"status must be one of {', '.join(ResultStatus.values)}")
            condition &= Q(status=params["status"])
        if params.get("subject"):
            condition &= Q(artifact_id=subject_get(params["subject"]).pk)
        form = AsOfForm(params)
        if params.get("as_of") and not form.is_valid():
            raise exceptions.ParseError("as_of must be a date, YYYY-MM-DD")
        as_of = as_of_for_user(request.user, form.day())
        views = results_view(request.user, condition, as_of=as_of, limit=5000)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(views, request, view=self)
        return paginator.get_paginated_response(ResultOutput(page, many=True).data)


class FrameworkListApi(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["policy"],
        operation_id="frameworks_list",
        responses={200: inline_serializer("FrameworkOut", {"code": serializers.CharField(),
                                                            "title": serializers.CharField(),
                                                            "version": serializers.CharField(),
                                                            "origin": serializers.CharField(),
                                                            "controls": serializers.IntegerField()}, many=True)},
    )  # fmt: skip
    def get(self, request):
        rows = [
            {"code": f.code, "title": f.title, "version": f.version, "origin": f.origin, "controls": f.controls.count()}
            for f in Framework.objects.order_by("code")
        ]
        return Response(rows)


class CatalogImportApi(APIView):
    """POST /api/v1/frameworks/import: bring your own framework as an OSCAL catalog."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser]  # JSONParser: 400 for JSON nested too deeply

    @extend_schema(
        tags=["policy"],
        operation_id="catalog_import",
        summary="Import an OSCAL catalog (compliance officers and admins)",
        description="The body is an OSCAL catalog JSON document, or multipart with `file` (and optional `code`).",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={201: inline_serializer("ImportOut", {"code": serializers.CharField(),
                                                         "controls": serializers.IntegerField()}), 400: ERROR},
    )  # fmt: skip
    def post(self, request):
        code = request.query_params.get("code") or None
        if "file" in request.FILES:
            data = request.FILES["file"].read()
            code = request.data.get("code") or code
        else:
            data = request.data
        framework = catalog_import(actor=request.user, data=data, code=code)
        return Response({"code": framework.code, "controls": framework.controls.count()}, status=201)


class AssessmentResultsApi(APIView):
    """GET /api/v1/frameworks/{code}/assessment-results: OSCAL assessment results of a framework."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["policy"],
        operation_id="assessment_results_export",
        summary="Export results as an OSCAL assessment-results document",
        parameters=[
            OpenApiParameter("system", OpenApiTypes.STR, description="System slug (default: every visible system)"),
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="State at the end of this day (UTC)"),
        ],
        responses={200: OpenApiTypes.OBJECT, 404: ERROR},
    )
    def get(self, request, code: str):
        framework = get_object_or_404(Framework, code=code)
        system, as_of = export_params(request)
        return Response(oscal_export_document(user=request.user, framework=framework, system=system, as_of=as_of))
