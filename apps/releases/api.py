"""REST API of release sign-off: the same services as the pages, for tools and CI.

A pipeline classifies a release (or CI metadata does it at parse time), risk owners decide
from a script or the inbox, and the gate (`/api/v1/gate`) reads the result. Errors follow
the contract ({"error": "..."}, compliance_portal.api): 400 bad input or a decision on a
sign-off that is not waiting for one, 403 a decision that separation of duties, role or
re-authentication forbids, 404 what the caller cannot see, 409 a move TRANSITIONS does not allow.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.api import DecisionInput
from apps.approvals.reauth import reauth_for_decision
from apps.formats import ParseError
from apps.policy.selectors import subject_get
from apps.releases import chain as chain_mod
from apps.releases import selectors, services
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.policy import release_policy

TAG = ["releases"]


# ---------------------------------------------------------------- output


class SignoffStepOutput(serializers.Serializer):
    slot = serializers.CharField()
    count = serializers.IntegerField(help_text="How many different people this step needs.")
    remaining = serializers.IntegerField()
    approvers = serializers.ListField(child=serializers.CharField())


class SignoffDecisionOutput(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = SignoffDecision
        fields = [
            "id",
            "approver",
            "slot",
            "decision",
            "signoff_version",
            "signoff_digest",
            "comment",
            "at",
            "reauthenticated_at",
            "voided_at",
            "void_reason",
        ]


class SignoffOutput(serializers.ModelSerializer):
    reference = serializers.CharField()
    system = serializers.CharField(source="system.slug")
    artifact = serializers.CharField(source="artifact.uri")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True)
    digest = serializers.SerializerMethodField(help_text="What a decision binds to; send it back with the decision.")
    chain = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseSignoff
        fields = [
            "id",
            "reference",
            "status",
            "system",
            "environment",
            "artifact",
            "artifact_digest",
            "change_class",
            "class_source",
            "authors",
            "evidence_ids",
            "version",
            "digest",
            "approved_digest",
            "requested_by",
            "requested_at",
            "decided_at",
            "chain",
        ]

    def get_digest(self, obj) -> str:
        return obj.digest()

    @extend_schema_field(SignoffStepOutput(many=True))
    def get_chain(self, obj) -> list[dict]:
        return [
            {
                "slot": s.step.slot,
                "count": s.step.count,
                "remaining": s.remaining,
                "approvers": [a.approver.username for a in s.approvals],
            }
            for s in chain_mod.chain_state(obj)
        ]


class SignoffDetailOutput(SignoffOutput):
    decisions = SignoffDecisionOutput(many=True, source="decision_rows")

    class Meta(SignoffOutput.Meta):
        fields = [*SignoffOutput.Meta.fields, "decisions"]


def _detail(signoff: ReleaseSignoff) -> dict:
    signoff = ReleaseSignoff.objects.select_related("system", "artifact", "requested_by").get(pk=signoff.pk)
    signoff.decision_rows = list(signoff.decisions.select_related("approver"))
    return SignoffDetailOutput(signoff).data


# ---------------------------------------------------------------- input


class SignoffClassifyInput(serializers.Serializer):
    subject = serializers.CharField(help_text="The release or image: an artifact id or identity (e.g. its URI).")
    change_class = serializers.CharField(help_text="One of the classes of the release policy.")
    environment = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why: required when lowering the class (compliance officers only, never an author).",
    )


SignoffDecisionInput = DecisionInput  # the engine's, shared with exceptions


def _input(serializer_class, request) -> dict:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


# ---------------------------------------------------------------- views


class SignoffListApi(APIView):
    """GET /api/v1/releases/signoffs: sign-offs of the systems the caller may see, newest first."""

    pagination_class = PageNumberPagination

    @extend_schema(
        tags=TAG,
        operation_id="release_signoffs_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ReleaseSignoff.Status.values)],
        responses=SignoffOutput(many=True),
    )
    def get(self, request):
        wanted = request.query_params.get("status", "")
        if wanted and wanted not in ReleaseSignoff.Status.values:
            raise ValidationError({"status": [f"use one of {', '.join(ReleaseSignoff.Status.values)}"]})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.signoff_list_for_user(user=request.user, status=wanted), request, view=self
        )
        return paginator.get_paginated_response(SignoffOutput(page, many=True).data)


class SignoffClassifyApi(APIView):
    """POST /api/v1/releases/signoffs/classify: set a release's change class; it asks its chain for sign-off."""

    @extend_schema(
        tags=TAG,
        operation_id="release_signoffs_classify",
        request=SignoffClassifyInput,
        responses={
            201: SignoffDetailOutput,
            400: OpenApiResponse(description="Unknown class; lowering without a reason; a decided sign-off "
                                 "made 'not required'"),
            403: OpenApiResponse(description="Not an owner, officer or admin of the release's system; lowering "
                                 "the class without being a compliance officer, or as an author"),
            404: OpenApiResponse(description="No such artifact among the systems you may see"),
        },
    )
    def post(self, request):

        if is_read_only(request.user):
            raise PermissionDenied("Auditors read sign-offs; they do not classify releases.")
        d = _input(SignoffClassifyInput, request)
        if d["change_class"].strip().lower() not in release_policy().classes:
            raise ValidationError({"change_class": [f"use one of {', '.join(release_policy().classes)}"]})
        try:
            artifact = subject_get(d["subject"])
        except (Http404, ParseError):
            raise NotFound("No artifact with that id or identity.") from None
        if not can_see_system(request.user, artifact.system_id):
            raise NotFound("No artifact with that id or identity.")
        signoff = services.release_classify(
            artifact=artifact,
            change_class=d["change_class"],
            actor=request.user,
            environment=d["environment"] or None,
            reason=d["reason"],
        )
        return Response(_detail(signoff), status=status.HTTP_201_CREATED)


class SignoffDetailApi(APIView):
    """GET /api/v1/releases/signoffs/{id}: one sign-off with its chain and every decision."""

    @extend_schema(tags=TAG, operation_id="release_signoffs_detail", responses=SignoffDetailOutput)
    def get(self, request, pk: int):
        return Response(_detail(selectors.signoff_get_for_user(user=request.user, pk=pk)))


class _DecideApi(APIView):
    service = None  # release_approve or release_reject

    def post(self, request, pk: int):
        signoff = selectors.signoff_get_for_user(user=request.user, pk=pk)
        if is_read_only(request.user):
            raise PermissionDenied("Auditors never sign releases off.")
        d = _input(SignoffDecisionInput, request)
        extra = {"slot": d["slot"]} if d.get("slot") and type(self).service is services.release_approve else {}
        signoff = type(self).service(
            **extra,
            signoff_id=signoff.pk,
            approver=request.user,
            comment=d["comment"],
            reauthenticated_at=reauth_for_decision(
                request._request, password=d.get("password", ""), otp_token=d["otp_token"], target=signoff
            ),
            digest=d["digest"],
        )
        return Response(_detail(signoff))


_DECISION_RESPONSES = {
    200: SignoffDetailOutput,
    400: OpenApiResponse(description="Not waiting for sign-off, or the digest changed since you reviewed it"),
    403: OpenApiResponse(description="Separation of duties, role or re-authentication"),
}


class SignoffApproveApi(_DecideApi):
    """POST /api/v1/releases/signoffs/{id}/approve: sign off in your place of the chain."""

    service = services.release_approve

    @extend_schema(tags=TAG, operation_id="release_signoffs_approve", request=SignoffDecisionInput,
                   responses=_DECISION_RESPONSES)  # fmt: skip
    def post(self, request, pk: int):
        return super().post(request, pk)


class SignoffRejectApi(_DecideApi):
    """POST /api/v1/releases/signoffs/{id}/reject: reject with a reason."""

    service = services.release_reject

    @extend_schema(tags=TAG, operation_id="release_signoffs_reject", request=SignoffDecisionInput,
                   responses=_DECISION_RESPONSES)  # fmt: skip
    def post(self, request, pk: int):
        return super().post(request, pk)
