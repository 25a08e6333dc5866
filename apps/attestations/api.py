"""REST API of manual evidence: one APIView per operation, calling the same services as the control page.

Errors follow the contract ({"error": "..."}): 400 bad input, 403 not allowed (role, owner, separation
of duties, re-authentication), 404 what the caller cannot see, 409 a move the document's status forbids.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.reauth import reauth_for_decision
from apps.attestations.models import Attestation, DocumentKind, DocumentRequirement, ManualDocument
from apps.attestations.selectors import document_get_for_user
from apps.attestations.services import (
    AttestationInput,
    DocumentUpload,
    attestation_record,
    can_decide,
    document_approve,
    document_reject,
    document_upload,
)
from apps.inventory.models import System
from apps.policy.models import Control

TAG = ["manual evidence"]


def _ensure_writer(user) -> None:
    if is_read_only(user):
        raise PermissionDenied("Auditors read manual evidence; they never provide, decide on or attest it.")


def _ensure_decider(user, document: ManualDocument) -> None:
    _ensure_writer(user)
    if not can_decide(user, document):
        raise PermissionDenied(
            "Only the requirement's owner or a compliance officer decides, never on their own upload."
        )


def _control(ref: str) -> Control:
    control = Control.objects.select_related("framework").for_ref(ref).first() if ":" in ref else None
    if control is None:
        raise ValidationError({"control": [f"no control {ref!r}: name it '<framework code>:<control id>'"]})
    return control


def _system(user, slug: str) -> System:
    system = System.objects.filter(slug=slug).first()
    if system is None or not can_see_system(user, system.pk):
        raise ValidationError({"system": [f"no system {slug!r} that you may see"]})
    return system


class DocumentOutput(serializers.ModelSerializer):
    control = serializers.CharField(source="requirement.control.ref")
    kind = serializers.CharField(source="requirement.kind")
    system = serializers.CharField(source="system.slug")
    receipt = serializers.CharField(source="receipt_id")
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True)
    review_due = serializers.SerializerMethodField()

    class Meta:
        model = ManualDocument
        fields = ["id", "control", "kind", "system", "title", "status", "sha256", "receipt", "document_date",
                  "review_due", "uploaded_by", "uploaded_at", "decided_by", "decided_at"]  # fmt: skip

    def get_review_due(self, obj) -> str:
        return obj.review_due().isoformat()


class DocumentUploadInput(serializers.Serializer):
    control = serializers.CharField(help_text='The control, "<framework code>:<control id>", e.g. "soc2:soc2-cc1-1".')
    kind = serializers.ChoiceField(choices=DocumentKind.choices, help_text="Which of the control's required kinds.")
    system = serializers.SlugField(help_text="The system the document covers (its slug).")
    title = serializers.CharField(max_length=300)
    document_date = serializers.DateTimeField(
        required=False, help_text="When it was issued or the activity happened; never later than now (capped)."
    )
    file = serializers.FileField()


class DocumentUploadApi(APIView):
    """POST /api/v1/documents: upload a document a control requires; stored and parsed as evidence."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=TAG,
        operation_id="documents_upload",
        summary="Upload a document a control requires",
        description="multipart/form-data. The bytes are accepted through the same path as every upload (blob, "
        "receipt, ledger, parse, retention); the document counts for its control once approved, until its "
        "review date (document_date + the requirement's cadence).",
        request={"multipart/form-data": DocumentUploadInput},
        responses={
            201: DocumentOutput,
            400: OpenApiResponse(description="Bad input"),
            403: OpenApiResponse(description="Read-only user or a system you cannot see"),
        },  # fmt: skip
    )
    def post(self, request):
        _ensure_writer(request.user)
        content_type = request.content_type.split(";", 1)[0].strip().lower()
        if content_type != "multipart/form-data":
            raise ParseError(
                f"content type {content_type or '(none)'!r} is not accepted: send multipart/form-data "
                "with the document in the 'file' field"
            )
        s = DocumentUploadInput(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        control = _control(d["control"])
        requirement = DocumentRequirement.objects.filter(control=control, kind=d["kind"]).first()
        if requirement is None:
            raise ValidationError({"kind": [f"{control.ref} requires no document of kind {d['kind']!r}"]})
        system = _system(request.user, d["system"])
        f = d["file"]
        upload = DocumentUpload(body=f.read(), filename=f.name or "", content_type=f.content_type or "",
                                title=d["title"], document_date=d.get("document_date"))  # fmt: skip
        document = document_upload(actor=request.user, requirement_id=requirement.pk, system=system, upload=upload)
        return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    """GET /api/v1/documents/{id}: one document."""

    @extend_schema(tags=TAG, operation_id="documents_detail", responses=DocumentOutput)
    def get(self, request, pk: int):
        return Response(DocumentOutput(document_get_for_user(user=request.user, pk=pk)).data)


class DocumentApproveApi(APIView):
    """POST /api/v1/documents/{id}/approve: the requirement's owner or a compliance officer approves."""

    @extend_schema(
        tags=TAG, operation_id="documents_approve", request=None,
        responses={200: DocumentOutput, 403: OpenApiResponse(description="Not the owner, or your own upload"),
                   409: OpenApiResponse(description="Already decided")},
    )  # fmt: skip
    def post(self, request, pk: int):
        document = document_get_for_user(user=request.user, pk=pk)
        _ensure_decider(request.user, document)
        return Response(DocumentOutput(document_approve(actor=request.user, document_id=document.pk)).data)


class RejectInput(serializers.Serializer):
    reason = serializers.CharField()


class DocumentRejectApi(APIView):
    """POST /api/v1/documents/{id}/reject: refuse a submitted document, saying why."""

    @extend_schema(
        tags=TAG, operation_id="documents_reject", request=RejectInput,
        responses={200: DocumentOutput, 403: OpenApiResponse(description="Not the owner, or your own upload"),
                   409: OpenApiResponse(description="Already decided")},
    )  # fmt: skip
    def post(self, request, pk: int):
        document = document_get_for_user(user=request.user, pk=pk)
        _ensure_decider(request.user, document)
        s = RejectInput(data=request.data)
        s.is_valid(raise_exception=True)
        document = document_reject(actor=request.user, document_id=document.pk, reason=s.validated_data["reason"])
        return Response(DocumentOutput(document).data)


class AttestationInputSerializer(serializers.Serializer):
    control = serializers.CharField(help_text='"<framework code>:<control id>"')
    system = serializers.SlugField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    statement = serializers.CharField()
    documents = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of approved documents relied on."
    )
    password = serializers.CharField(
        required=False,
        write_only=True,
        style={"input_type": "password"},
        help_text="Re-authentication, unless this session re-authenticated recently.",
    )
    otp_token = serializers.CharField(required=False, allow_blank=True, default="", help_text="TOTP code, if enrolled.")


class AttestationOutput(serializers.ModelSerializer):
    control = serializers.CharField(source="control.ref")
    system = serializers.CharField(source="system.slug")
    attested_by = serializers.CharField(source="attested_by.username")
    documents = serializers.SerializerMethodField()

    class Meta:
        model = Attestation
        fields = ["id", "control", "system", "attested_by", "period_start", "period_end", "statement", "documents",
                  "digests", "reauthenticated_at", "created_at"]  # fmt: skip

    def get_documents(self, obj) -> list[int]:
        return sorted(obj.documents.values_list("pk", flat=True))


class AttestationCreateApi(APIView):
    """POST /api/v1/attestations: the control's owner attests it operated during a period (step-up required)."""

    @extend_schema(
        tags=TAG,
        operation_id="attestations_create",
        request=AttestationInputSerializer,
        responses={
            201: AttestationOutput,
            400: OpenApiResponse(description="Bad input or documents"),
            403: OpenApiResponse(description="Not the owner, or no recent re-authentication"),
        },  # fmt: skip
    )
    def post(self, request):
        _ensure_writer(request.user)
        s = AttestationInputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        control = _control(d["control"])
        system = _system(request.user, d["system"])
        reauth_at = reauth_for_decision(request._request, password=d.get("password", ""),
                                        otp_token=d.get("otp_token", ""), target=control)  # fmt: skip
        data = AttestationInput(control_id=control.pk, system=system, period_start=d["period_start"],
                                period_end=d["period_end"], statement=d["statement"],
                                document_ids=tuple(d["documents"]))  # fmt: skip
        attestation = attestation_record(actor=request.user, data=data, reauthenticated_at=reauth_at)
        return Response(AttestationOutput(attestation).data, status=status.HTTP_201_CREATED)
