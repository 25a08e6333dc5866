"""Push endpoints of the connector kinds: MLflow registry webhooks, registry notifications, OpenLineage.

- ``POST /api/v1/ingest/mlflow?source=<id>``: MLflow 3 registry webhooks (mlflow>=3.3). MLflow
  signs ``<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<body>`` with HMAC-SHA256 and the
  webhook's secret and sends ``X-MLflow-Signature: v1,<base64 digest>``; we check it with
  the source's signing secret (create_source prints it), refuse timestamps further than
  PORTAL_MLFLOW_WEBHOOK_TOLERANCE from our clock, and deduplicate by the delivery id.
- ``POST /api/v1/ingest/oci?source=<id>``: Distribution registry notification envelopes
  (``application/vnd.docker.distribution.events.v1+json``), with the source's bearer token
  in the endpoint's ``headers: {Authorization: [Bearer cps_…]}``.
- ``POST /api/v1/ingest/openlineage``: OpenLineage events with the source's bearer token
  (the openlineage-python HTTP transport's ``api_key`` auth sends exactly that).

A webhook also queues a sync of the source when it has an endpoint, so the full picture (run
metrics, manifests, attached SBOMs) follows at once. A registry notification queues one sync of
the repository whose manifest was pushed or deleted, debounced (registry_sync_debounced): a burst
of notifications is one sync per repository, not one per event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.connectors import schema  # noqa: F401 - registers the OpenAPI security schemes
from apps.connectors.services import registry_sync_debounced, source_sync_soon
from apps.formats.mlflow import is_webhook_test
from apps.formats.oci import notification_event_kind
from apps.ingest.api import ACCEPT_RESPONSES, _header, _IngestApi, _WebhookApi, accepted, json_object
from apps.ingest.auth import WEBHOOK_REFUSED, SourceTokenAuthentication, _WebhookAuthentication, read_body
from apps.ingest.models import Receipt, Source
from apps.ingest.services import receipt_accept
from apps.ledger.canonical import canonical_json


class MlflowSignatureAuthentication(_WebhookAuthentication):
    """`?source=<id>` names the source; X-MLflow-Signature must sign delivery id, timestamp and body."""

    kind, label = Source.Kind.MLFLOW, "MLflow"
    header = "HTTP_X_MLFLOW_SIGNATURE"
    missing = "missing X-MLflow-Signature header: create the webhook with the secret create_source printed"

    def verify(self, request, secret: str) -> None:
        given = request.META.get("HTTP_X_MLFLOW_SIGNATURE", "").strip()
        delivery = request.META.get("HTTP_X_MLFLOW_DELIVERY_ID", "").strip()
        stamp = request.META.get("HTTP_X_MLFLOW_TIMESTAMP", "").strip()
        if not delivery or not stamp.isdigit():
            raise exceptions.AuthenticationFailed("missing X-MLflow-Delivery-Id or X-MLflow-Timestamp header")
        if abs(time.time() - int(stamp)) > settings.PORTAL_MLFLOW_WEBHOOK_TOLERANCE:
            raise exceptions.AuthenticationFailed("X-MLflow-Timestamp is too far from now (a replayed delivery?)")
        signed = delivery.encode() + b"." + stamp.encode() + b"." + read_body(request)
        expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED)

    def authenticate_header(self, request):
        return 'X-MLflow-Signature realm="compliance-portal"'


class _KindTokenAuthentication(SourceTokenAuthentication):
    """A source bearer token, of one kind; `?source=<id>`, when given, must be that source."""

    kind: str = ""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        source = result[1]
        if source.kind != self.kind:
            raise exceptions.AuthenticationFailed(
                f"this token belongs to a {source.get_kind_display()} source; this endpoint takes "
                f"{Source.Kind(self.kind).label} sources"
            )
        named = request.query_params.get("source", "")
        if named and named != str(source.pk):
            raise exceptions.AuthenticationFailed(f"?source={named[:20]} is not the source of this token")
        return result


class OciTokenAuthentication(_KindTokenAuthentication):
    kind = Source.Kind.OCI


class OpenLineageTokenAuthentication(_KindTokenAuthentication):
    kind = Source.Kind.OPENLINEAGE


def _content_type(request, allowed: tuple[str, ...]) -> str:
    content_type = request.content_type.split(";", 1)[0].strip().lower()
    if content_type not in allowed:
        raise exceptions.ParseError(
            f"content type {content_type or '(none)'!r} is not accepted: send {' or '.join(allowed)}"
        )
    return content_type


class MlflowWebhookApi(_WebhookApi):
    authentication_classes = [MlflowSignatureAuthentication]

    @extend_schema(
        tags=["ingest"],
        operation_id="ingest_mlflow",
        summary="Receive an MLflow registry webhook",
        description=(
            "Create the webhook in MLflow (mlflow>=3.3, `MlflowClient().create_webhook(url=…/api/v1/ingest/mlflow"
            "?source=<id>, events=[…], secret=<the secret create_source printed>)`). Verified with "
            "X-MLflow-Signature (HMAC-SHA256 of `<delivery id>.<timestamp>.<body>`, base64, `v1,` prefix), "
            "deduplicated by X-MLflow-Delivery-Id. Queues a sync of the source when it has an endpoint. "
            "MLflow's webhook test (`test_webhook`: the event's example payload) answers 200 "
            '`{"status": "test received", "event": …}` and keeps nothing.'
        ),
        parameters=[
            OpenApiParameter("source", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True),
            OpenApiParameter("X-MLflow-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Delivery-Id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Timestamp", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses=ACCEPT_RESPONSES,
    )
    def post(self, request):
        body = self._json_body(request)
        doc = json_object(body)
        event = f"{str(doc.get('entity', ''))[:40]}.{str(doc.get('action', ''))[:40]}".strip(".") or "unknown"
        if is_webhook_test(doc):
            # MlflowClient.test_webhook() sends the event's example payload (model "example_model"): the
            # signature checked, so the webhook works; it says nothing about the registry, keep nothing.
            return Response({"status": "test received", "event": event}, status=status.HTTP_200_OK)
        delivery = _header(request, "HTTP_X_MLFLOW_DELIVERY_ID")
        receipt, created = receipt_accept_and_sync(
            request,
            channel=Receipt.Channel.MLFLOW,
            body=body,
            event=event,
            delivery_key=delivery,
            headers={"event": event, "delivery": delivery, "user_agent": _header(request, "HTTP_USER_AGENT")},
        )
        return accepted(receipt, created)


def receipt_accept_and_sync(request, **fields):

    source = request.auth
    receipt, created = receipt_accept(source=source, content_type="application/json", **fields)
    if created and source.endpoint_url:
        source_sync_soon(source_id=source.pk)
    return receipt, created


OCI_TYPES = ("application/vnd.docker.distribution.events.v1+json", "application/json")


class OciNotificationApi(_IngestApi):
    authentication_classes = [OciTokenAuthentication]
    parser_classes: list = []

    @extend_schema(
        tags=["ingest"],
        operation_id="ingest_oci",
        summary="Receive registry notification events (Distribution)",
        description=(
            "Add an endpoint to the registry's `notifications` configuration with url "
            "`…/api/v1/ingest/oci?source=<id>` and `headers: {Authorization: [Bearer <token>]}`. Every envelope "
            "is kept as a receipt. Manifest pushes and deletes become registry-event evidence about the image "
            "(a delete marks the image deleted and ends its deployments); pulls are access events, counted per "
            "repository, not evidence; blob events (layers, configs, mounts) record nothing. A manifest push or "
            "delete queues one sync of its repository per PORTAL_OCI_SYNC_DEBOUNCE seconds, run at the end of "
            "that window."
        ),
        parameters=[OpenApiParameter("source", OpenApiTypes.INT, OpenApiParameter.QUERY)],
        request={"application/vnd.docker.distribution.events.v1+json": OpenApiTypes.OBJECT},
        responses=ACCEPT_RESPONSES,
    )
    def post(self, request):
        _content_type(request, OCI_TYPES)
        body = read_body(request)
        doc = json_object(body)
        events = doc.get("events")
        if not isinstance(events, list) or not events:
            raise exceptions.ParseError('expected a notification envelope: {"events": [...]} with at least one event')
        # The registry re-sends the same envelope after a failure: same bytes, same receipt.
        key = "sha256:" + hashlib.sha256(body).hexdigest()
        events = [e for e in events if isinstance(e, dict)]
        actions = sorted({str(e.get("action", ""))[:20] for e in events})
        headers = {"actions": actions, "events": len(events), "user_agent": _header(request, "HTTP_USER_AGENT")}
        pulls = registry_pulls_by_repository(events)
        if pulls:
            headers["pulls"] = pulls  # access events: counted here, not evidence (registry_pulls_count)

        source = request.auth
        receipt, created = receipt_accept(
            source=source,
            channel=Receipt.Channel.OCI,
            body=body,
            content_type="application/json",
            event="notification",
            delivery_key=key,
            headers=headers,
        )
        if created and source.endpoint_url:
            # Only a manifest pushed or deleted changes what a sync would find; one sync per
            # repository per window, however many notifications the burst brings.
            for repository in registry_repositories_changed(events):
                registry_sync_debounced(source_id=source.pk, repository=repository)
        return accepted(receipt, created)


def registry_pulls_by_repository(events: list[dict]) -> dict[str, int]:
    """Pull events of an envelope, counted per repository."""
    pulls: dict[str, int] = {}
    for event in events:
        if event.get("action") == "pull":
            target = event.get("target") if isinstance(event.get("target"), dict) else {}
            repository = str(target.get("repository") or "")[:500]
            pulls[repository] = pulls.get(repository, 0) + 1
    return pulls


def registry_repositories_changed(events: list[dict]) -> list[str]:
    """Repositories where a manifest was pushed or deleted (blob events and pulls change no image)."""
    changed = []
    for event in events:
        target = event.get("target") if isinstance(event.get("target"), dict) else {}
        repository = target.get("repository")
        if (
            event.get("action") in ("push", "delete")
            and notification_event_kind(event) == "manifest"
            and isinstance(repository, str)
            and repository
            and repository[:500] not in changed
        ):
            changed.append(repository[:500])
    return changed


def openlineage_event_key(doc: dict) -> str:
    """The idempotency key of an OpenLineage event: the sha256 of its RFC 8785 (JCS) canonical form.

    A producer that re-sends an event (same runId, eventType and eventTime) may serialize it with
    other whitespace or key order; the canonical form is the same, so the key is too. An event that
    says anything else (another eventTime, another facet) is another key. A document JCS cannot
    represent (an integer beyond 2**53) falls back to sorted-key compact JSON.
    """
    try:
        canonical = canonical_json(doc)
    except ValueError:
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "jcs-sha256:" + hashlib.sha256(canonical).hexdigest()


class OpenLineageApi(_IngestApi):
    authentication_classes = [OpenLineageTokenAuthentication]
    parser_classes: list = []

    @extend_schema(
        tags=["ingest"],
        operation_id="ingest_openlineage",
        summary="Receive an OpenLineage event",
        description=(
            "Any OpenLineage producer: point its HTTP transport at this portal with endpoint "
            "`api/v1/ingest/openlineage` and the source's token as API key (sent as `Authorization: Bearer`). "
            "Run events (START, RUNNING, COMPLETE, ABORT, FAIL, OTHER) and job or dataset events are accepted; "
            "jobs, runs and datasets become artifacts with lineage edges. The same event re-sent, in any formatting "
            "(whitespace, key order), is a replay: idempotency by the sha256 of its RFC 8785 canonical form."
        ),
        request={"application/json": OpenApiTypes.OBJECT},
        responses=ACCEPT_RESPONSES,
    )
    def post(self, request):
        _content_type(request, ("application/json",))
        body = read_body(request)
        doc = json_object(body)
        if "run" in doc:
            if not isinstance(doc.get("job"), dict) or not isinstance(doc.get("run"), dict):
                raise exceptions.ParseError("a run event needs 'run' and 'job' objects")
            event = str(doc.get("eventType") or "OTHER")[:20]
        elif isinstance(doc.get("job"), dict):
            event = "JobEvent"
        elif isinstance(doc.get("dataset"), dict):
            event = "DatasetEvent"
        else:
            raise exceptions.ParseError("expected an OpenLineage run, job or dataset event")

        receipt, created = receipt_accept(
            source=request.auth,
            channel=Receipt.Channel.OPENLINEAGE,
            body=body,
            content_type="application/json",
            event=event,
            delivery_key=openlineage_event_key(doc),
            key_from_content=True,
            headers={
                "event": event,
                "producer": str(doc.get("producer", ""))[:200],
                "user_agent": _header(request, "HTTP_USER_AGENT"),
            },
        )
        return accepted(receipt, created)
