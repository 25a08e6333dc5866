"""API of the ledger for verifiers outside: signed checkpoints, consistency proofs, the log export.

Readable by whoever may read the ledger (compliance officers, admins, auditors while an engagement of
theirs is open). An auditor's export carries in full only the entries about objects in their scope
(apps.ledger.scoping); every other line holds the index and leaf hash, so the tree still verifies.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.ledger.models import LedgerEntry
from apps.ledger.readers import ledger_readers
from apps.ledger.scoping import ledger_entries_visible_to
from apps.ledger.selectors import checkpoint_list, ledger_export_lines, ledger_visible_to
from apps.ledger.services import consistency_proof, latest_checkpoint, tree_size
from apps.ledger.verify import encode_hash, encode_proof

ERROR = inline_serializer("LedgerError", {"error": serializers.CharField()})


def _check(user) -> None:
    if not ledger_visible_to(user):
        raise exceptions.PermissionDenied(
            "the ledger's checkpoints and proofs are for compliance officers, admins and auditors of an open "
            "engagement")


class LedgerCheckpointListApi(APIView):
    """GET: signed checkpoints, newest first (`?size=N` for the one of that size)."""

    class Input(serializers.Serializer):
        size = serializers.IntegerField(required=False, min_value=0)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1000)

    class CheckpointOutput(serializers.Serializer):
        size = serializers.IntegerField()
        root = serializers.CharField(help_text="base64 of the 32-byte RFC 6962 root hash")
        note = serializers.CharField(help_text="the C2SP signed checkpoint note, exactly as signed")

    @extend_schema(
        operation_id="ledger_checkpoints",
        parameters=[
            OpenApiParameter("size", int, description="only the checkpoint of this tree size"),
            OpenApiParameter("limit", int, description="at most this many (default 1000)"),
        ],
        responses={200: inline_serializer("LedgerCheckpoints", {"checkpoints": CheckpointOutput(many=True)}),
                   400: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request):
        _check(request.user)
        params = self.Input(data=request.query_params)
        params.is_valid(raise_exception=True)
        size = params.validated_data.get("size")
        rows = checkpoint_list(size=size, limit=params.validated_data["limit"])
        if size is not None and not rows:
            raise exceptions.NotFound(f"no signed checkpoint of size {size}")
        return Response({"checkpoints": [
            {"size": c.size, "root": encode_hash(bytes(c.root)), "note": c.note} for c in rows
        ]})


class LedgerConsistencyApi(APIView):
    """GET: the RFC 9162 section 2.1.4 consistency proof between tree sizes `first` and `second`."""

    class Input(serializers.Serializer):
        first = serializers.IntegerField(min_value=0)
        second = serializers.IntegerField(min_value=0)

        def validate(self, attrs):
            if attrs["first"] > attrs["second"]:
                raise serializers.ValidationError(
                    f"first ({attrs['first']}) must not be larger than second ({attrs['second']})")
            return attrs

    @extend_schema(
        operation_id="ledger_consistency",
        parameters=[OpenApiParameter("first", int, required=True, description="the older tree size"),
                    OpenApiParameter("second", int, required=True, description="the newer tree size")],
        responses={200: inline_serializer("LedgerConsistency", {
            "first": serializers.IntegerField(), "second": serializers.IntegerField(),
            "proof": serializers.ListField(child=serializers.CharField(), help_text="base64 hashes")}),
            400: ERROR, 403: ERROR},
    )
    def get(self, request):
        _check(request.user)
        params = self.Input(data=request.query_params)
        params.is_valid(raise_exception=True)
        first, second = params.validated_data["first"], params.validated_data["second"]
        latest = latest_checkpoint()
        signed = latest.size if latest else 0
        if second > signed:
            raise exceptions.ValidationError(
                f"second ({second}) is beyond the latest signed checkpoint (size {signed}): a proof is only "
                f"useful between signed tree heads")
        return Response({"first": first, "second": second, "proof": encode_proof(consistency_proof(first, second))})


class LedgerEntryExportApi(APIView):
    """GET: the log's entries [start, end) as JSON Lines, streamed: {"index", "leaf_hash", "entry"} per line,
    the entry's canonical JSON embedded verbatim (the exact hashed bytes)."""

    class Input(serializers.Serializer):
        start = serializers.IntegerField(required=False, min_value=0, default=0)
        end = serializers.IntegerField(required=False, min_value=0)

    @extend_schema(
        operation_id="ledger_entries_export",
        parameters=[OpenApiParameter("start", int, description="first index (default 0)"),
                    OpenApiParameter("end", int, description="one past the last index (default: all)")],
        responses={(200, "application/jsonl"): OpenApiResponse(
            OpenApiTypes.BINARY,
            description='JSON Lines: {"index":N,"leaf_hash":"<base64>","entry":<canonical JSON, verbatim>}; '
                        'for an auditor, entries outside their scope as '
                        '{"index":N,"leaf_hash":"<base64>","redacted":true}'),
            400: ERROR, 403: ERROR},
    )
    def get(self, request):
        user = request.user
        _check(user)
        params = self.Input(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end = params.validated_data["start"], params.validated_data.get("end")
        size = tree_size()
        end = size if end is None else min(end, size)
        if start > end:
            raise exceptions.ValidationError(f"start ({start}) is after end ({end}; the log has {size} entries)")
        readable = None
        if not ledger_readers().reads_everything(user):
            visible = ledger_entries_visible_to(user, LedgerEntry.objects.filter(index__gte=start, index__lt=end))
            readable = set(visible.values_list("index", flat=True))
        lines = ledger_export_lines(start=start, end=end, readable=readable)
        response = StreamingHttpResponse(lines, content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="ledger-{start}-{end}.jsonl"'
        return response
