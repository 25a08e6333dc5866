"""REST API of exceptions: one APIView per operation, calling the same services as the pages.

Errors follow the contract ({"error": "..."}): 400 for bad input, 403 for a forbidden
decision (separation of duties, role, re-authentication), 404 for what the caller cannot
see, 409 for a move the request's status does not allow.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import is_read_only
from apps.approvals.api import DecisionInput
from apps.approvals.reauth import reauth_for_decision
from apps.exceptions.chain import chain_state
from apps.exceptions.forms import ExceptionFilterForm
from apps.exceptions.models import Approval, ExceptionRequest
from apps.exceptions.selectors import (
    can_edit,
    can_renew,
    can_request_any,
    can_revoke,
    can_use_inbox,
    exception_get_for_user,
    exception_inbox_for_user,
    exception_list_for_user,
)
from apps.exceptions.services import (
    ExceptionInput,
    exception_approve,
    exception_reject,
    exception_renew,
    exception_request,
    exception_revoke,
    exception_submit,
    exception_update,
)
from apps.exceptions.tiers import Slot, tier_policy

TAG = ["exceptions"]


# ---------------------------------------------------------------- output


class ApprovalOutput(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = [
            "id",
            "approver",
            "slot",
            "decision",
            "request_version",
            "request_digest",
            "comment",
            "at",
            "reauthenticated_at",
            "voided_at",
            "void_reason",
        ]


class SlotOutput(serializers.Serializer):
    slot = serializers.CharField()
    label = serializers.CharField()
    approver = serializers.CharField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)


class ExceptionOutput(serializers.ModelSerializer):
    reference = serializers.CharField()
    control = serializers.CharField(source="control.control_id")
    control_title = serializers.CharField(source="control.title")
    system = serializers.CharField(source="system.slug")
    artifact = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username")
    renewal_of = serializers.IntegerField(source="renewal_of_id", allow_null=True)
    digest = serializers.SerializerMethodField()
    chain = serializers.SerializerMethodField()

    class Meta:
        model = ExceptionRequest
        fields = [
            "id",
            "reference",
            "status",
            "tier",
            "control",
            "control_title",
            "system",
            "artifact",
            "justification",
            "compensating_controls",
            "likelihood",
            "impact",
            "expires_at",
            "evidence_ids",
            "version",
            "digest",
            "renewal_of",
            "requested_by",
            "created_at",
            "submitted_at",
            "approved_at",
            "decided_at",
            "ended_at",
            "review_reason",
            "revoke_reason",
            "chain",
        ]

    def get_artifact(self, obj) -> str | None:
        return obj.artifact.uri if obj.artifact_id else None

    def get_digest(self, obj) -> str:
        return obj.digest()

    @extend_schema_field(SlotOutput(many=True))
    def get_chain(self, obj) -> list[dict]:
        return [
            {
                "slot": s.slot,
                "label": s.label,
                "approver": s.approval.approver.username if s.approval else None,
                "approved_at": s.approval.at if s.approval else None,
            }
            for s in chain_state(obj)
        ]


class ExceptionDetailOutput(ExceptionOutput):
    approvals = ApprovalOutput(many=True)
    frozen_state = serializers.JSONField()

    class Meta(ExceptionOutput.Meta):
        fields = [*ExceptionOutput.Meta.fields, "approvals", "frozen_state", "frozen_at"]


def _detail(req: ExceptionRequest) -> dict:
    req = ExceptionRequest.objects.select_related("control", "system", "artifact", "requested_by").get(pk=req.pk)
    return ExceptionDetailOutput(req).data


# ---------------------------------------------------------------- input


class ExceptionFieldsInput(serializers.Serializer):
    control = serializers.CharField(max_length=100, help_text="Control id, e.g. gdpr-35-1.")
    system = serializers.SlugField(help_text="System slug.")
    artifact = serializers.IntegerField(required=False, allow_null=True, help_text="Artifact id narrowing the scope.")
    justification = serializers.CharField()
    compensating_controls = serializers.CharField()
    likelihood = serializers.IntegerField(min_value=1, max_value=5)
    impact = serializers.IntegerField(min_value=1, max_value=5)
    expires_at = serializers.DateTimeField(help_text="When the exception ends (capped by its tier's maximum).")
    evidence_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)


class ExceptionCreateInput(ExceptionFieldsInput):
    submit = serializers.BooleanField(required=False, default=False, help_text="Submit for approval at once.")


class ExceptionUpdateInput(ExceptionFieldsInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            f.required = False


class RevokeInput(serializers.Serializer):
    reason = serializers.CharField()


class RenewInput(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    submit = serializers.BooleanField(required=False, default=True)


def _input(serializer_class, request):
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


def _exception_input(d: dict) -> ExceptionInput:
    return ExceptionInput(
        control=d["control"],
        system=d["system"],
        artifact=d.get("artifact"),
        justification=d["justification"],
        compensating_controls=d["compensating_controls"],
        likelihood=d["likelihood"],
        impact=d["impact"],
        expires_at=d["expires_at"],
        evidence_ids=list(d.get("evidence_ids") or []),
    )


# ---------------------------------------------------------------- views

LIST_PARAMETERS = [
    OpenApiParameter("system", OpenApiTypes.STR, description="System slug."),
    OpenApiParameter("control", OpenApiTypes.STR, description="Control id."),
    OpenApiParameter("tier", OpenApiTypes.STR, enum=["low", "medium", "high", "critical"]),
    OpenApiParameter("status", OpenApiTypes.STR, enum=ExceptionRequest.Status.values),
    OpenApiParameter("expiring_within", OpenApiTypes.INT, description="Approved and ending within this many days."),
    OpenApiParameter("mine", OpenApiTypes.BOOL, description="Only requests I made."),
]


class ExceptionListApi(APIView):
    """GET /api/v1/exceptions: the register, scoped to the systems the caller may see."""

    pagination_class = PageNumberPagination

    @extend_schema(
        tags=TAG, operation_id="exceptions_list", parameters=LIST_PARAMETERS, responses=ExceptionOutput(many=True)
    )
    def get(self, request):
        form = ExceptionFilterForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            exception_list_for_user(user=request.user, filters=form.filters()), request, view=self
        )
        return paginator.get_paginated_response(ExceptionOutput(page, many=True).data)


class ExceptionRequestApi(APIView):
    """POST /api/v1/exceptions/request: create a request (a draft, or submitted with "submit": true)."""

    @extend_schema(
        tags=TAG,
        operation_id="exceptions_request",
        request=ExceptionCreateInput,
        responses={
            201: ExceptionDetailOutput,
            400: OpenApiResponse(description="What is wrong"),
            403: OpenApiResponse(description="You cannot request exceptions for that system"),
        },
    )
    def post(self, request):
        if not can_request_any(request.user):
            raise PermissionDenied("Engineers, risk owners and compliance officers request exceptions.")
        d = _input(ExceptionCreateInput, request)
        req = exception_request(actor=request.user, data=_exception_input(d), submit=d["submit"])
        return Response(_detail(req), status=status.HTTP_201_CREATED)


class ExceptionDetailApi(APIView):
    """GET /api/v1/exceptions/{id}: one request with its chain, approvals and frozen state."""

    @extend_schema(tags=TAG, operation_id="exceptions_detail", responses=ExceptionDetailOutput)
    def get(self, request, pk: int):
        return Response(_detail(exception_get_for_user(user=request.user, pk=pk)))


class ExceptionUpdateApi(APIView):
    """POST /api/v1/exceptions/{id}/update: change fields of a draft or pending request (new version)."""

    @extend_schema(
        tags=TAG,
        operation_id="exceptions_update",
        request=ExceptionUpdateInput,
        responses={200: ExceptionDetailOutput, 409: OpenApiResponse(description="Not editable now")},
    )
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        if not can_edit(request.user, req):
            raise PermissionDenied("Only the requester or a compliance officer edits a draft or pending request.")
        d = _input(ExceptionUpdateInput, request)
        merged = {
            "control": req.control.control_id,
            "system": req.system.slug,
            "artifact": req.artifact_id,
            "justification": req.justification,
            "compensating_controls": req.compensating_controls,
            "likelihood": req.likelihood,
            "impact": req.impact,
            "expires_at": req.expires_at,
            "evidence_ids": list(req.evidence_ids),
            **d,
        }
        req = exception_update(request_id=req.pk, actor=request.user, data=_exception_input(merged))
        return Response(_detail(req))


class ExceptionSubmitApi(APIView):
    """POST /api/v1/exceptions/{id}/submit: a draft goes to its approvers."""

    @extend_schema(tags=TAG, operation_id="exceptions_submit", request=None, responses=ExceptionDetailOutput)
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        return Response(_detail(exception_submit(request_id=req.pk, actor=request.user)))


def _reauth_at(request, d: dict, req):
    return reauth_for_decision(
        request, password=d.get("password", ""), otp_token=d.get("otp_token", ""), target=req
    )


class ExceptionApproveApi(APIView):
    """POST /api/v1/exceptions/{id}/approve: approve in your slot of the chain (re-authentication required)."""

    @extend_schema(
        tags=TAG,
        operation_id="exceptions_approve",
        request=DecisionInput,
        responses={
            200: ExceptionDetailOutput,
            400: OpenApiResponse(description="No digest, or the request changed since you reviewed it"),
            403: OpenApiResponse(description="Separation of duties, role or re-authentication"),
            409: OpenApiResponse(description="Not pending"),
        },
    )
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        if is_read_only(request.user):
            raise PermissionDenied("Auditors never decide on exceptions.")
        d = _input(DecisionInput, request)
        req = exception_approve(
            request_id=req.pk,
            approver=request.user,
            comment=d["comment"],
            reauthenticated_at=_reauth_at(request._request, d, req),
            digest=d["digest"],
            slot=d.get("slot"),
        )
        return Response(_detail(req))


class ExceptionRejectApi(APIView):
    """POST /api/v1/exceptions/{id}/reject: reject with a comment (re-authentication required)."""

    @extend_schema(
        tags=TAG,
        operation_id="exceptions_reject",
        request=DecisionInput,
        responses={200: ExceptionDetailOutput, 403: OpenApiResponse(description="Not allowed to decide")},
    )
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        if is_read_only(request.user):
            raise PermissionDenied("Auditors never decide on exceptions.")
        d = _input(DecisionInput, request)
        req = exception_reject(
            request_id=req.pk,
            approver=request.user,
            comment=d["comment"],
            reauthenticated_at=_reauth_at(request._request, d, req),
            digest=d["digest"],
        )
        return Response(_detail(req))


class ExceptionRevokeApi(APIView):
    """POST /api/v1/exceptions/{id}/revoke: a compliance officer ends an exception early, with a reason."""

    @extend_schema(tags=TAG, operation_id="exceptions_revoke", request=RevokeInput, responses=ExceptionDetailOutput)
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        if not can_revoke(request.user, req):
            raise PermissionDenied("Only compliance officers revoke approved or pending exceptions.")
        d = _input(RevokeInput, request)
        return Response(_detail(exception_revoke(request_id=req.pk, actor=request.user, reason=d["reason"])))


class ExceptionRenewApi(APIView):
    """POST /api/v1/exceptions/{id}/renew: a new linked request with a new expiry; approval starts again."""

    @extend_schema(
        tags=TAG, operation_id="exceptions_renew", request=RenewInput, responses={201: ExceptionDetailOutput}
    )
    def post(self, request, pk: int):
        req = exception_get_for_user(user=request.user, pk=pk)
        if not can_renew(request.user, req):
            raise PermissionDenied("Only an approved or expired exception is renewed, by those who may request it.")
        d = _input(RenewInput, request)
        new = exception_renew(
            request_id=req.pk, actor=request.user, expires_at=d["expires_at"], submit=d["submit"]
        )
        return Response(_detail(new), status=status.HTTP_201_CREATED)


class ExceptionInboxApi(APIView):
    """GET /api/v1/exceptions/inbox: pending requests with a slot the caller could fill now."""

    @extend_schema(tags=TAG, operation_id="exceptions_inbox", responses=ExceptionOutput(many=True))
    def get(self, request):
        if not can_use_inbox(request.user):
            raise PermissionDenied("The approval inbox is for risk owners, compliance officers and executives.")
        return Response(ExceptionOutput(exception_inbox_for_user(user=request.user), many=True).data)


class TierPolicyOutput(serializers.Serializer):
    likelihood = serializers.ListField(child=serializers.CharField())
    impact = serializers.ListField(child=serializers.CharField())
    matrix = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    tiers = serializers.DictField()


class TierPolicyApi(APIView):
    """GET /api/v1/exceptions/policy: the risk matrix, maximum days and approval chain per tier."""

    @extend_schema(tags=TAG, operation_id="exceptions_policy", responses=TierPolicyOutput)
    def get(self, request):
        p = tier_policy()
        return Response(
            {
                "likelihood": list(p.likelihood),
                "impact": list(p.impact),
                "matrix": [list(r) for r in p.matrix],
                "tiers": {
                    t: {"max_days": r.max_days, "chain": [{"slot": s, "label": Slot(s).label} for s in r.chain]}
                    for t, r in p.tiers.items()
                },
            }
        )
