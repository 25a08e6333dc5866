from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.search.registry import PAGE_SIZE, TARGETS, search_page_for_user
from apps.search.views import page_number


class HitOutput(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    url = serializers.CharField(help_text="Path of the object's page (its permalink).")
    rank = serializers.FloatField()
    matched_in = serializers.CharField(
        help_text='Where inside the object the words matched when its title did not, e.g. "test failure message"; '
        '"" for a title match.'
    )
    snippet = serializers.CharField(
        help_text="Up to 160 characters of the matched value around the words, plain text (escape it to show it)."
    )


class SearchApi(APIView):
    """GET /api/v1/search?q=…: full-text search over what the caller may see, one page of hits, best first."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["search"],
        operation_id="search",
        description=(
            f"Hits best first, {PAGE_SIZE} per page. Per kind, only the newest matches up to a cap are ranked "
            "(docs/architecture.md, search); `X-Result-Count` says how many were ranked, with a trailing `+` "
            "when some kind had more matches than the cap."
        ),
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, required=True, description='Web-search syntax: words, "phrase", -not.'
            ),
            OpenApiParameter("kind", OpenApiTypes.STR, many=True, enum=sorted(TARGETS) or None),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1 (default 1)."),
            OpenApiParameter(
                "X-Result-Count",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=True,
                description='Ranked results over all pages, e.g. "42", or "1000+" when capped.',
            ),
        ],
        responses=HitOutput(many=True),
    )
    def get(self, request):
        kinds = [k for k in request.query_params.getlist("kind") if k in TARGETS]
        page = page_number(request.query_params.get("page"))
        if page is None:
            raise serializers.ValidationError({"page": "A whole number from 1 to 10000."})
        results = search_page_for_user(
            user=request.user, text=request.query_params.get("q", ""), kinds=kinds or None, page=page
        )
        response = Response(HitOutput(results.hits, many=True).data)
        response["X-Result-Count"] = f"{results.count}+" if results.capped else str(results.count)
        return response
