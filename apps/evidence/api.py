"""Read-only query API over evidence and artifacts (session auth), plus the upload's shared path."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.evidence.forms import EvidenceFilterForm
from apps.evidence.models import Artifact, Evidence
from apps.evidence.selectors import (
    artifact_evidence_for_user,
    artifact_get_for_user,
    artifact_lineage,
    evidence_counting,
    evidence_edges,
    evidence_get_for_user,
    evidence_list_for_user,
    evidence_records,
    evidence_subjects,
)

RECORDS_IN_DETAIL = 500


class ArtifactRefOutput(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)

    class Meta:
        model = Artifact
        fields = ["id", "kind", "uri", "digest", "name"]


class EvidenceOutput(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    receipt = serializers.CharField(source="receipt_id", read_only=True)
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    subject = ArtifactRefOutput(read_only=True, allow_null=True)

    class Meta:
        model = Evidence
        fields = [
            "id",
            "kind",
            "format",
            "title",
            "verdict",
            "system",
            "source",
            "subject",
            "received_at",
            "effective_at",
            "effective_basis",
            "sha256",
            "receipt",
        ]


class EvidenceSubjectOutput(serializers.Serializer):
    role = serializers.CharField()
    artifact = ArtifactRefOutput()


class EdgeOutput(serializers.Serializer):
    source = serializers.CharField(source="source.uri")
    target = serializers.CharField(source="target.uri")
    relation = serializers.CharField()


class EvidenceDetailOutput(EvidenceOutput):
    summary = serializers.JSONField()
    subjects = EvidenceSubjectOutput(many=True, source="subject_list")
    edges = EdgeOutput(many=True, source="edge_list")
    counted = serializers.BooleanField(
        help_text="Whether policy counts it: its source is bound to, or allowed for, the system of what it is about."
    )
    not_counted_reason = serializers.CharField(help_text="Why it does not count (empty when it does).")
    records_total = serializers.IntegerField()
    records = serializers.ListField(
        child=serializers.JSONField(), source="record_list", help_text=f"The first {RECORDS_IN_DETAIL} detail rows."
    )

    class Meta(EvidenceOutput.Meta):
        fields = [
            *EvidenceOutput.Meta.fields,
            "verdict_reason",
            "counted",
            "not_counted_reason",
            "summary",
            "subjects",
            "edges",
            "records_total",
            "records",
        ]


class ArtifactDetailOutput(ArtifactRefOutput):
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    evidence = EvidenceOutput(many=True, source="evidence_list")
    upstream = EdgeOutput(many=True)
    downstream = EdgeOutput(many=True)

    class Meta(ArtifactRefOutput.Meta):
        fields = [
            *ArtifactRefOutput.Meta.fields,
            "system",
            "first_seen",
            "deleted_at",
            "evidence",
            "upstream",
            "downstream",
        ]


FILTER_PARAMETERS = [
    OpenApiParameter("system", OpenApiTypes.STR, many=True, explode=True,
                     description="System slug; repeat it for the evidence of any of several systems."),
    OpenApiParameter("kind", OpenApiTypes.STR, description="Evidence kind: test-report, sast-scan, sbom, provenance…"),
    OpenApiParameter("verdict", OpenApiTypes.STR, enum=["pass", "fail", "info"]),
    OpenApiParameter("subject", OpenApiTypes.STR, description="An artifact identity (normalized) or part of one."),
    OpenApiParameter("source", OpenApiTypes.INT, description="Source id."),
    OpenApiParameter("artifact", OpenApiTypes.INT, description="Evidence about this artifact id."),
    OpenApiParameter("control", OpenApiTypes.STR, description=(
        "Evidence the current results of a control used: its database id, '<framework>:<control id>' "
        "(one framework's), or a bare control id (every framework's control of that id).")),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Effective at or after (date or date-time)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Effective before (a date includes the day)."),
]


class EvidenceListApi(APIView):
    """GET /api/v1/evidence: evidence the caller may see, newest effective time first."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["evidence"],
        operation_id="evidence_list",
        parameters=FILTER_PARAMETERS,
        responses=EvidenceOutput(many=True),
    )
    def get(self, request):
        form = EvidenceFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            raise ValidationError({field: [str(e) for e in errors] for field, errors in form.errors.items()})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            evidence_list_for_user(user=request.user, filters=form.filters()), request, view=self
        )
        return paginator.get_paginated_response(EvidenceOutput(page, many=True).data)


class EvidenceDetailApi(APIView):
    """One piece of evidence with its summary, subjects, lineage it stated and its first detail rows."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["evidence"], operation_id="evidence_get", responses=EvidenceDetailOutput)
    def get(self, request, pk: int):
        evidence = evidence_get_for_user(user=request.user, pk=pk)
        evidence.subject_list = evidence_subjects(evidence)
        evidence.edge_list = evidence_edges(evidence, limit=1000)
        evidence.record_list, evidence.records_total = evidence_records(evidence, limit=RECORDS_IN_DETAIL)
        evidence.counted, evidence.not_counted_reason = evidence_counting(evidence)
        return Response(EvidenceDetailOutput(evidence).data)


class ArtifactDetailApi(APIView):
    """One artifact with the evidence about it and its direct lineage."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["evidence"], operation_id="artifact_get", responses=ArtifactDetailOutput)
    def get(self, request, pk: int):
        artifact = artifact_get_for_user(user=request.user, pk=pk)
        artifact.evidence_list = artifact_evidence_for_user(user=request.user, artifact=artifact, limit=100)
        lineage = artifact_lineage(artifact, user=request.user, limit=500)
        artifact.upstream, artifact.downstream = lineage["upstream"], lineage["downstream"]
        return Response(ArtifactDetailOutput(artifact).data)
