"""Ingestion endpoints of the contract: GitHub and GitLab webhooks, uploads, receipt status.

Answers: 202 {"receipt", "sha256", "state": "queued", "duplicate": false}; a replay gets
the original receipt with "duplicate": true and 200; errors are {"error": "..."}.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.scoping import is_scoped_auditor, scope_evidence
from apps.evidence.models import Evidence
from apps.formats import PARSERS, ParseError, normalize_subject
from apps.ingest.auth import (
    GitHubSignatureAuthentication,
    GitLabTokenAuthentication,
    IsEnabledSource,
    IsSignedInUserOrEnabledSource,
    PayloadTooLarge,
    SourceRateThrottle,
    SourceTokenAuthentication,
    check_content_length,
    read_body,
    source_rate_wait,
    source_throttled,
    webhook_sender,
)
from apps.ingest.models import Receipt, Source
from apps.ingest.selectors import receipt_recognised
from apps.ingest.services import AcceptRefused, receipt_accept
from apps.inventory.models import System
from compliance_portal.api import refusal_body


class AcceptedOutput(serializers.Serializer):
    receipt = serializers.CharField(help_text="Receipt id; GET /api/v1/receipts/{id} tells how parsing went.")
    sha256 = serializers.CharField(help_text="sha256 (hex) of the raw body as stored.")
    state = serializers.ChoiceField(choices=["queued", "parsed", "failed"])
    duplicate = serializers.BooleanField(help_text="true: a replay; this is the original receipt (status 200).")


ERROR = inline_serializer("Error", {"error": serializers.CharField()})
ACCEPT_RESPONSES = {
    202: AcceptedOutput,
    200: OpenApiResponse(AcceptedOutput, description="A replay: the original receipt, nothing new written."),
    400: OpenApiResponse(
        ERROR,
        description="Malformed body, missing header or field, wrong content type, effective_at more than 5 minutes "
        "after receipt.",
    ),
    401: OpenApiResponse(ERROR, description="Missing or wrong signature, token or source id."),
    403: OpenApiResponse(
        ERROR, description="The source is disabled, or is bound to a system and named another system's subject."
    ),
    409: OpenApiResponse(
        inline_serializer(
            "IdempotencyConflict",
            {
                "error": serializers.CharField(),
                "sha256": serializers.CharField(help_text="sha256 of this body."),
                "original_sha256": serializers.CharField(help_text="sha256 of the body first sent with the key."),
                "receipt": serializers.CharField(help_text="The receipt of the first body."),
            },
        ),
        description="The Idempotency-Key (or delivery id) was already used with another body; nothing stored.",
    ),
    413: OpenApiResponse(ERROR, description="The body is larger than PORTAL_INGEST_MAX_BYTES."),
    429: OpenApiResponse(ERROR, description="The source sent more than PORTAL_INGEST_RATE."),
}


def accepted_data(receipt: Receipt, created: bool) -> dict:
    return {
        "receipt": str(receipt.pk),
        "sha256": receipt.sha256,
        "state": receipt.public_state,
        "duplicate": not created,
    }


def accepted(receipt: Receipt, created: bool) -> Response:
    return Response(accepted_data(receipt, created), status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


def _header(request, name: str, limit: int = 200) -> str:
    return request.META.get(name, "").strip()[:limit]


class _IngestApi(APIView):
    permission_classes = [IsEnabledSource]
    throttle_classes = [SourceRateThrottle]

    def initial(self, request, *args, **kwargs):
        # 413 before authentication reads anything.
        check_content_length(request._request)
        super().initial(request, *args, **kwargs)

    def throttled(self, request, wait):
        raise source_throttled(request.auth, wait)


def _json_object_body(request: HttpRequest, body: bytes) -> bytes:
    """A webhook body must be a JSON object sent as application/json (400 otherwise)."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise exceptions.ParseError(
            f"content type {content_type or '(none)'!r} is not accepted: set the webhook to send application/json"
        )
    json_object(body)
    return body


def json_object(body: bytes) -> dict:
    """The body as a JSON object, or ParseError (400): not JSON, nested too deeply, or not an object."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise exceptions.ParseError(f"the body is not valid JSON ({exc})"[:300]) from None
    if not isinstance(doc, dict):
        raise exceptions.ParseError("the body must be a JSON object")
    return doc


def _event(request: HttpRequest, meta_key: str, header: str) -> str:
    event = _header(request, meta_key, 100)
    if not event:
        raise exceptions.ParseError(f"missing {header} header")
    return event


class _WebhookApi(_IngestApi):
    parser_classes: list = []  # the raw body is read once, by the authentication (signature) step

    def _json_body(self, request) -> bytes:
        return _json_object_body(request._request, read_body(request))


# ---------------------------------------------------------------- GitHub and GitLab: the hot path
#
# Webhook deliveries are the portal's highest-volume requests, so their endpoints are plain
# Django views (`github_webhook`, `gitlab_webhook`) rather than DRF ones: DRF's request wrapping,
# content negotiation, authentication/permission/throttle classes and renderer cost more CPU
# than the accept itself. The checks are the same functions the DRF ingest endpoints use, in the
# same order (size, credential header, enabled source, credential, rate, event, body), and answer
# the same JSON. `_webhook_schema` describes each endpoint for OpenAPI; it serves nothing.


@dataclass(frozen=True)
class _Webhook:
    """What differs between the GitHub and GitLab endpoints."""

    kind: str
    label: str
    channel: str
    event_meta: str
    event_header: str
    # The DRF authentication class of the endpoint: its credential header and verify() serve both doors.
    authentication: type
    delivery_key: Callable[[HttpRequest], str]
    headers: Callable[[HttpRequest, str], dict]
    www_authenticate: str


def _webhook_receipt(
    request: HttpRequest, source: Source, hook: _Webhook, delivery_key: str, original: Receipt | None
) -> tuple[Receipt, bool]:
    """After the credential, the enabled check and the rate limit: event, body, then receipt_accept
    (with the original receipt of this delivery id, read together with the source)."""
    event = _event(request, hook.event_meta, hook.event_header)
    body = _json_object_body(request, read_body(request))
    return receipt_accept(
        source=source,
        channel=hook.channel,
        body=body,
        content_type="application/json",
        event=event,
        delivery_key=delivery_key,
        headers=hook.headers(request, event),
        original=original,
    )


GITHUB = _Webhook(
    kind=Source.Kind.GITHUB,
    label="GitHub",
    channel=Receipt.Channel.GITHUB,
    event_meta="HTTP_X_GITHUB_EVENT",
    event_header="X-GitHub-Event",
    authentication=GitHubSignatureAuthentication,
    delivery_key=lambda request: _header(request, "HTTP_X_GITHUB_DELIVERY"),
    headers=lambda request, event: {
        "event": event,
        "delivery": _header(request, "HTTP_X_GITHUB_DELIVERY"),
        "hook_id": _header(request, "HTTP_X_GITHUB_HOOK_ID", 40),
        "target_type": _header(request, "HTTP_X_GITHUB_HOOK_INSTALLATION_TARGET_TYPE", 40),
        "user_agent": _header(request, "HTTP_USER_AGENT"),
    },
    www_authenticate='X-Hub-Signature-256 realm="compliance-portal"',
)

GITLAB = _Webhook(
    kind=Source.Kind.GITLAB,
    label="GitLab",
    channel=Receipt.Channel.GITLAB,
    event_meta="HTTP_X_GITLAB_EVENT",
    event_header="X-Gitlab-Event",
    authentication=GitLabTokenAuthentication,
    delivery_key=lambda request: (
        _header(request, "HTTP_X_GITLAB_EVENT_UUID") or _header(request, "HTTP_IDEMPOTENCY_KEY")
    ),
    headers=lambda request, event: {
        "event": event,
        "event_uuid": _header(request, "HTTP_X_GITLAB_EVENT_UUID"),
        "webhook_uuid": _header(request, "HTTP_X_GITLAB_WEBHOOK_UUID"),
        "instance": _header(request, "HTTP_X_GITLAB_INSTANCE"),
        "user_agent": _header(request, "HTTP_USER_AGENT"),
    },
    www_authenticate='X-Gitlab-Token realm="compliance-portal"',
)


def _error_response(exc: exceptions.APIException, hook: _Webhook) -> JsonResponse:
    """The contract's error body, with the headers DRF would add (WWW-Authenticate, Retry-After)."""
    response = JsonResponse({"error": str(exc.detail)}, status=exc.status_code)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response["WWW-Authenticate"] = hook.www_authenticate
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait))
    return response


def _webhook_view(hook: _Webhook, documented_by: type[APIView]):
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            response = _error_response(exceptions.MethodNotAllowed(request.method), hook)
            response["Allow"] = "POST"
            return response
        try:
            check_content_length(request)  # 413 before anything is read
            auth = hook.authentication()
            if not request.META.get(auth.header, ""):
                raise exceptions.AuthenticationFailed(auth.missing)
            # Unknown, other-kind or disabled sources are refused here, before the body is read.
            delivery_key = hook.delivery_key(request)
            source, secret, original = webhook_sender(
                request.GET.get("source", ""), kind=hook.kind, label=hook.label, delivery_key=delivery_key
            )
            auth.verify(request, secret)
            wait = source_rate_wait(source)
            if wait is not None:
                raise source_throttled(source, wait)
            receipt, created = _webhook_receipt(request, source, hook, delivery_key, original)
        except exceptions.APIException as exc:
            return _error_response(exc, hook)
        except AcceptRefused as exc:
            return JsonResponse(refusal_body(exc), status=exc.status_code)
        return JsonResponse(accepted_data(receipt, created), status=202 if created else 200)

    # drf-spectacular lists a URL whose view has `cls` (an APIView): the endpoint is documented by it.
    view.cls, view.initkwargs = documented_by, {}
    view.__name__ = view.__qualname__ = f"{hook.kind}_webhook"
    return view


def _webhook_schema(hook: _Webhook, *, summary: str, description: str, headers: list) -> type[APIView]:
    """The OpenAPI description of a webhook endpoint that a plain view serves: drf-spectacular
    documents a URL by its view's `cls`. No URL routes to this class; it implements nothing."""

    @extend_schema(
        tags=["ingest"],
        operation_id=f"ingest_{hook.kind}",
        summary=summary,
        description=description,
        parameters=[
            OpenApiParameter(
                "source", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True,
                description=f"The {hook.label} source's id.",
            ),
            *headers,
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses=ACCEPT_RESPONSES,
    )  # fmt: skip
    def post(self, request):
        raise exceptions.MethodNotAllowed(request.method)  # never routed: `<kind>_webhook` serves the URL

    return type(
        f"{hook.label}WebhookSchema",
        (APIView,),
        {
            "__doc__": f"OpenAPI description of POST /api/v1/ingest/{hook.kind} (served by `{hook.kind}_webhook`).",
            "__module__": __name__,
            # The credential scheme the schema names (apps.ingest.schema); the view checks it itself.
            "authentication_classes": [hook.authentication],
            "permission_classes": [IsEnabledSource],
            "post": post,
        },
    )


github_webhook = _webhook_view(
    GITHUB,
    _webhook_schema(
        GITHUB,
        summary="Receive a GitHub webhook delivery",
        description=(
            "Point a GitHub webhook (content type application/json) at `/api/v1/ingest/github?source=<id>` with the "
            "secret create_source printed. Verified with X-Hub-Signature-256, deduplicated by X-GitHub-Delivery. "
            "Events the portal does not understand yet are kept as generic evidence."
        ),
        headers=[
            OpenApiParameter("X-GitHub-Event", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-GitHub-Delivery", OpenApiTypes.STR, OpenApiParameter.HEADER),
            OpenApiParameter("X-Hub-Signature-256", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
    ),
)
gitlab_webhook = _webhook_view(
    GITLAB,
    _webhook_schema(
        GITLAB,
        summary="Receive a GitLab webhook",
        description=(
            "Point a GitLab webhook at `/api/v1/ingest/gitlab?source=<id>` with the secret token create_source "
            "printed. Verified with X-Gitlab-Token, deduplicated by X-Gitlab-Event-UUID (or Idempotency-Key)."
        ),
        headers=[
            OpenApiParameter("X-Gitlab-Event", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Gitlab-Event-UUID", OpenApiTypes.STR, OpenApiParameter.HEADER),
            OpenApiParameter("X-Gitlab-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
    ),
)


# The formats an upload may name in `kind` (otherwise detected from the content).
UPLOAD_KINDS = [*PARSERS, "generic"]


class UploadInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text="The evidence file, any format.")
    subject = serializers.CharField(
        max_length=2048,
        help_text="What the evidence is about: git+https://host/org/repo@<sha>, oci://host/repo@sha256:<digest>, "
        "pkg:pypi/name@1.0, mlflow://<model>/<version>, dataset:sha256:<hex>…",
    )
    kind = serializers.ChoiceField(
        choices=UPLOAD_KINDS,
        required=False,
        allow_blank=True,
        help_text="The file's format; detected from the content when left out.",
    )
    effective_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the evidence speaks about (for backfills); otherwise taken from the content. At most 5 "
        "minutes after receipt (400 otherwise). Freshness counts from the earlier of this and the receipt time, "
        "retention from the later.",
    )
    system = serializers.SlugField(
        required=False,
        allow_blank=True,
        help_text="System slug; default: the source's. A source bound to a system may name only that one (403).",
    )

    def validate_subject(self, value: str) -> str:
        try:
            return normalize_subject(value).uri
        except ParseError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_system(self, value: str):
        if not value:
            return None
        system = System.objects.filter(slug=value).first()
        if system is None:
            raise serializers.ValidationError(f"there is no system {value!r}")
        return system


class EvidenceUploadApi(_IngestApi):
    """POST /api/v1/evidence: a file about a subject, from a source with its bearer token."""

    authentication_classes = [SourceTokenAuthentication]
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["ingest"],
        operation_id="evidence_upload",
        summary="Upload an evidence file",
        description=(
            "multipart/form-data with `file` and `subject` (and optionally `kind`, `effective_at`, `system`). "
            "The file is parsed by a worker; a file that cannot be parsed ends as a failed receipt with the "
            "reason. Send Idempotency-Key to make a retry harmless."
        ),
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        request={"multipart/form-data": UploadInput},
        responses=ACCEPT_RESPONSES,
    )
    def post(self, request):
        content_type = request.content_type.split(";", 1)[0].strip().lower()
        if content_type != "multipart/form-data":
            raise exceptions.ParseError(
                f"content type {content_type or '(none)'!r} is not accepted: send multipart/form-data "
                "with the file in the 'file' field"
            )
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        limit = settings.PORTAL_INGEST_MAX_BYTES
        if upload.size > limit:
            raise PayloadTooLarge(f"the file is {upload.size} bytes; this portal accepts at most {limit}")
        key = _header(request, "HTTP_IDEMPOTENCY_KEY")
        receipt, created = receipt_accept(
            source=request.auth,
            channel=Receipt.Channel.UPLOAD,
            body=upload.read(),
            content_type=(upload.content_type or "")[:200],
            delivery_key=key,
            headers={"idempotency_key": key, "user_agent": _header(request, "HTTP_USER_AGENT")},
            filename=(upload.name or "")[:255],
            subject=values["subject"],
            format_hint=values.get("kind") or "",
            system=values.get("system"),
            effective_at=values.get("effective_at"),
        )
        return accepted(receipt, created)


class ReceiptOutput(serializers.Serializer):
    id = serializers.CharField()
    state = serializers.ChoiceField(choices=["queued", "parsed", "failed"])
    error = serializers.CharField(
        help_text="Why parsing failed; for a parsed receipt, what was refused (a bound source's content naming "
        "another system's subjects: not attached to them). Empty otherwise."
    )
    evidence = serializers.ListField(child=serializers.CharField(), help_text="Ids of the evidence parsed from it.")
    sha256 = serializers.CharField()
    recognised = serializers.BooleanField(
        allow_null=True,
        help_text="false: no parser read the content, it was kept as generic evidence that no rule judges; "
        "null until the receipt is parsed.",
    )


class ReceiptDetailApi(APIView):
    """GET /api/v1/receipts/{id}: how a delivery or upload was processed."""

    authentication_classes = [SourceTokenAuthentication, SessionAuthentication]
    permission_classes = [IsSignedInUserOrEnabledSource]

    @extend_schema(
        tags=["ingest"],
        operation_id="receipt_get",
        summary="How a delivery or upload was processed",
        description="With the source's bearer token (its own receipts only) or a signed-in user's session.",
        responses={200: ReceiptOutput, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request, pk: int):
        receipts = Receipt.objects.all()
        if isinstance(request.auth, Source):
            receipts = receipts.filter(source=request.auth)
        elif is_scoped_auditor(request.user):
            # An auditor sees a receipt only through evidence of it they may see.
            visible = scope_evidence(request.user, Evidence.objects.filter(receipt=OuterRef("pk")))
            receipts = receipts.filter(Exists(visible))
        receipt = get_object_or_404(receipts.only("id", "state", "error", "sha256", "attempts"), pk=pk)
        recognised = receipt_recognised(receipt)
        evidence = Evidence.objects.filter(receipt=receipt, generation=receipt.generation).order_by("ordinal")
        return Response(
            {
                "id": str(receipt.pk),
                "state": receipt.public_state,
                "error": receipt.error,
                "evidence": [str(pk) for pk in evidence.values_list("pk", flat=True)],
                "sha256": receipt.sha256,
                "recognised": recognised,
            }
        )
