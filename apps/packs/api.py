"""API of evidence packs: request and list (/api/v1/packs), one pack, its download.

The API and the pages call the same services (pack_request, pack_download), so the same
rules hold at both doors."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.packs.models import Pack, ScopeKind
from apps.packs.selectors import pack_get_for_user, pack_list_for_user
from apps.packs.services import can_request_packs, pack_download, pack_request

ERROR = inline_serializer("PackError", {"error": serializers.CharField()})


class PackOutput(serializers.ModelSerializer):
    reference = serializers.CharField()
    requester = serializers.CharField(source="requester.username")
    download_url = serializers.SerializerMethodField()
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                            help_text="When it was built, failed or cancelled; null while active.")

    class Meta:
        model = Pack
        fields = [
            "id", "reference", "scope_kind", "scope", "scope_label", "period_start", "period_end", "requester",
            "requested_at", "status", "stage", "progress", "attempts", "started_at",
            "finished_at", "built_at", "size", "sha256", "pages",
            "evidence_count", "checkpoint_size", "error", "download_url",
        ]

    def get_download_url(self, pack: Pack) -> str | None:
        return f"/api/v1/packs/{pack.pk}/download" if pack.status == Pack.Status.BUILT else None


def _check(user) -> None:
    if not can_request_packs(user):
        raise exceptions.PermissionDenied("evidence packs are for compliance officers, admins and auditors")


class PackListCreateApi(APIView):
    """GET: packs the user may see, newest first. POST: request a pack of a scope."""

    class Input(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ScopeKind.values)
        artifact = serializers.IntegerField(required=False, help_text="kind=artifact: a release or deployment id")
        uri = serializers.CharField(required=False, help_text="kind=artifact: or its identity")
        system = serializers.CharField(required=False, help_text="kind=system: the system's slug")
        framework = serializers.CharField(required=False, help_text="kind=framework: its code, e.g. soc2")
        engagement = serializers.IntegerField(required=False, help_text="kind=engagement: its id")
        start = serializers.CharField(required=False, help_text="YYYY-MM-DD or ISO date-time")
        end = serializers.CharField(required=False, help_text="YYYY-MM-DD (included) or ISO date-time")

    @extend_schema(operation_id="packs_list", responses={200: inline_serializer("PackPage", {
        "count": serializers.IntegerField(),
        "next": serializers.CharField(allow_null=True),
        "previous": serializers.CharField(allow_null=True),
        "results": PackOutput(many=True),
    })})
    def get(self, request):
        _check(request.user)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(pack_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(PackOutput(page, many=True).data)

    @extend_schema(
        operation_id="packs_request",
        request=Input,
        responses={202: PackOutput, 400: OpenApiResponse(ERROR), 403: OpenApiResponse(ERROR)},
    )
    def post(self, request):
        _check(request.user)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        params = {k: v for k, v in data.validated_data.items() if k != "kind"}
        pack = pack_request(user=request.user, kind=data.validated_data["kind"], params=params)
        return Response(PackOutput(pack).data, status=status.HTTP_202_ACCEPTED)


class PackDetailApi(APIView):
    """One pack: its state, stage and progress while it builds; size and sha256 once built."""

    @extend_schema(operation_id="packs_get", responses={200: PackOutput, 404: OpenApiResponse(ERROR)})
    def get(self, request, pk: int):
        _check(request.user)
        return Response(PackOutput(pack_get_for_user(user=request.user, pk=pk)).data)


class PackDownloadApi(APIView):
    """The built pack's ZIP. Every download is a ledger entry (who, when)."""

    @extend_schema(operation_id="packs_download", responses={(200, "application/zip"): OpenApiTypes.BINARY,
                                                             404: OpenApiResponse(ERROR),
                                                             409: OpenApiResponse(ERROR)})
    def get(self, request, pk: int):
        _check(request.user)
        pack = pack_get_for_user(user=request.user, pk=pk)
        if pack.status != Pack.Status.BUILT:
            return Response({"error": f"{pack.reference} is {pack.status}, not built"}, status=status.HTTP_409_CONFLICT)
        handle = pack_download(user=request.user, pack=pack)
        return FileResponse(handle, as_attachment=True, filename=f"evidence-pack-{pack.reference}.zip",
                            content_type="application/zip")
