from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.search.registry import TARGETS, search_for_user


class HitOutput(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    url = serializers.CharField(help_text="Path of the object's page (its permalink).")
    rank = serializers.FloatField()


class SearchApi(APIView):
    """GET /api/v1/search?q=…: full-text search over what the caller may see."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["search"],
        operation_id="search",
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, required=True, description='Web-search syntax: words, "phrase", -not.'
            ),
            OpenApiParameter("kind", OpenApiTypes.STR, many=True, enum=sorted(TARGETS) or None),
        ],
        responses=HitOutput(many=True),
    )
    def get(self, request):
        kinds = [k for k in request.query_params.getlist("kind") if k in TARGETS]
        hits = search_for_user(user=request.user, text=request.query_params.get("q", ""), kinds=kinds or None)
        return Response(HitOutput(hits, many=True).data)
