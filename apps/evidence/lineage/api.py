"""Lineage query API: walks, paths, impact analysis and what runs in production (session auth, read-only)."""

from __future__ import annotations

import json
from datetime import UTC

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.evidence.lineage import (
    COMPACT_ABOVE,
    DEFAULT_DEPTH,
    DIRECTIONS,
    FORMS,
    MAX_DEPTH,
    PAGE_LIMIT,
    LineageQueryError,
    Window,
    artifacts_visible_to,
    as_of_window,
    impact_roots,
    lineage_impact,
    lineage_path,
    lineage_walk_json,
    lineage_walk_ndjson,
    production_for_system,
)
from apps.evidence.lineage.chain import release_chain
from apps.evidence.selectors import artifact_get_for_user
from apps.inventory.selectors import system_get_for_user

ERROR = inline_serializer("LineageError", {"error": serializers.CharField()})


class NodeOutput(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.CharField()
    uri = serializers.CharField()
    name = serializers.CharField()
    depth = serializers.IntegerField(help_text="Edges from the start (shortest).")


class LinkOutput(serializers.Serializer):
    source = serializers.CharField(help_text="Upstream artifact id.")
    target = serializers.CharField(help_text="Downstream artifact id.")
    relation = serializers.CharField()


class CompactNodeOutput(NodeOutput):
    upstream = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Compact form: the ids of this node\'s upstream neighbours inside the walk, by relation '
        '({"built-from": ["12", "15"]}); over a whole walk, the same edges as the full form\'s `edges`.',
    )


class WalkNodeOutput(NodeOutput):
    upstream = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Compact form only: upstream ids inside the walk, by relation (see `CompactNode`).",
    )


class WalkOutput(serializers.Serializer):
    root = serializers.CharField()
    direction = serializers.ChoiceField(choices=DIRECTIONS)
    depth = serializers.IntegerField()
    form = serializers.ChoiceField(choices=["compact", "full"], help_text="The form of this answer.")
    nodes = WalkNodeOutput(many=True)
    edges = LinkOutput(
        many=True, required=False, help_text="Full form only: edges by which this page's nodes are reached."
    )
    next = serializers.CharField(allow_null=True, help_text="URL of the next page (more than `limit` nodes), or null.")


class NdjsonRenderer(BaseRenderer):
    """`Accept: application/x-ndjson` or `?format=ndjson` on a walk: one compact node per line (streamed).

    Error answers are rendered as JSON (`_LineageApi.handle_exception`)."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() + b"\n"


class PathOutput(serializers.Serializer):
    found = serializers.BooleanField()
    length = serializers.IntegerField()
    edges = LinkOutput(many=True, help_text="In order, from upstream to downstream.")


class ImpactItemOutput(serializers.Serializer):
    deployment = NodeOutput()
    environment = serializers.CharField()
    via = serializers.CharField(help_text="The start artifact it depends on.")
    depth = serializers.IntegerField()
    valid_from = serializers.DateTimeField(allow_null=True, help_text="When it started running (null: unknown).")
    valid_to = serializers.DateTimeField(allow_null=True, help_text="When it stopped (null: still running).")


class ImpactOutput(serializers.Serializer):
    roots = serializers.ListField(child=serializers.CharField(), help_text="Artifacts the question started from.")
    deployments = ImpactItemOutput(many=True)


class ProductionItemOutput(serializers.Serializer):
    deployment = NodeOutput()
    upstream = NodeOutput(many=True, help_text="Model versions, runs, datasets, commits, images, jobs upstream.")
    valid_from = serializers.DateTimeField(allow_null=True, help_text="When it started running (null: unknown).")
    valid_to = serializers.DateTimeField(allow_null=True, help_text="When it stopped (null: still running).")


class ProductionOutput(serializers.Serializer):
    system = serializers.CharField()
    deployments = ProductionItemOutput(many=True)


class ChainLinkOutput(serializers.Serializer):
    link = serializers.CharField(help_text="commit -> build, build -> image, image -> release, release -> deployment")
    present = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why the link is missing; empty when present.")
    artifacts = NodeOutput(many=True, help_text="The artifacts that make the link hold.")


class ReleaseChainOutput(serializers.Serializer):
    release = NodeOutput()
    complete = serializers.BooleanField()
    missing = serializers.ListField(
        child=serializers.CharField(), help_text='One line per missing link: "image -> release (no payload named …)".'
    )
    links = ChainLinkOutput(many=True)
    commits = NodeOutput(many=True)
    images = NodeOutput(many=True)
    deployments = NodeOutput(many=True)
    candidates = inline_serializer(
        "ReleaseChainCandidates",
        {"images": serializers.ListField(child=serializers.CharField(), help_text="Images the release's commit "
                                         "built that nothing tied to the release (identities).")},  # fmt: skip
    )


def _int(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationError({name: f"must be a whole number from {low} to {high}"})
    return int(raw)


AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.STR,
    description=(
        "A date (2026-03-02: that whole UTC day) or an ISO 8601 date-time (UTC without an offset): follow only "
        "the edges valid then, so a deployment counts only while it ran."
    ),
)


def _window(request) -> Window | None:
    raw = request.query_params.get("as_of", "")
    return as_of_window(raw[:64]) if raw else None


def _time(value) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _node(node) -> dict:
    return {"id": str(node.id), "kind": node.kind, "uri": node.uri, "name": node.name, "depth": node.depth}


def _links(links) -> list[dict]:
    return [{"source": str(e.source), "target": str(e.target), "relation": e.relation} for e in links]


class _LineageApi(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc):
        if isinstance(exc, LineageQueryError):
            exc = ValidationError(str(exc))
        # An error is a JSON document, whatever was asked for (a stream of nodes has no error line).
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)


class ArtifactLineageApi(_LineageApi):
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, NdjsonRenderer]

    @extend_schema(
        tags=["lineage"],
        operation_id="artifact_lineage",
        summary="Artifacts up- or downstream of one artifact",
        description=(
            "A recursive walk in the database to `depth` edges (cycle-safe), nodes ordered by distance then id. "
            f"At most `limit` (≤ {PAGE_LIMIT}) nodes per page; `next` pages on. Relations: built-from, trained-on, "
            "evaluated-on, derived-from, run-of, part-of, contains, depends-on, promoted-to, deployed-as, describes. "
            "Without `as_of`, every edge ever stated, ended deployments included. "
            f"Two forms (`form`): `full`, nodes and the edges reaching them; `compact` (the default for walks of "
            f"more than {COMPACT_ABOVE} nodes), each node with its upstream ids by relation and no edge list. "
            "With `Accept: application/x-ndjson` or `format=ndjson`: the whole walk (no paging: `limit` and "
            "`after` are ignored) streamed as NDJSON, one compact node per line in (depth, id) order."
        ),
        parameters=[
            OpenApiParameter("direction", OpenApiTypes.STR, enum=list(DIRECTIONS), default="upstream"),
            OpenApiParameter("depth", OpenApiTypes.INT, default=DEFAULT_DEPTH, description=f"1 to {MAX_DEPTH}"),
            OpenApiParameter("limit", OpenApiTypes.INT, default=PAGE_LIMIT),
            OpenApiParameter("after", OpenApiTypes.STR, description="Cursor from the previous page's `next`."),
            OpenApiParameter(
                "form",
                OpenApiTypes.STR,
                enum=list(FORMS),
                default="auto",
                description=f"`compact`, `full`, or `auto`: compact for walks of more than {COMPACT_ABOVE} nodes.",
            ),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "ndjson"],
                description="`ndjson`: the whole walk as a stream (as `Accept: application/x-ndjson`).",
            ),
            AS_OF,
        ],
        responses={
            (200, "application/json"): WalkOutput,
            (200, "application/x-ndjson"): OpenApiResponse(
                CompactNodeOutput, description="One compact node (a JSON object) per line."
            ),
            (400, "application/json"): ERROR,
            (404, "application/json"): ERROR,
        },
    )
    def get(self, request, pk: int):
        artifact = artifact_get_for_user(user=request.user, pk=pk)
        direction = request.query_params.get("direction", "upstream")
        depth = _int(request, "depth", DEFAULT_DEPTH, 1, MAX_DEPTH)
        form = request.query_params.get("form", "auto")
        if form not in FORMS:
            raise ValidationError({"form": f"must be one of {', '.join(FORMS)}"})
        if request.accepted_renderer.format == "ndjson":
            if form == "full":
                raise ValidationError({"form": "an NDJSON walk is in the compact form only"})
            lines = lineage_walk_ndjson(
                user=request.user, artifact_id=artifact.pk, direction=direction, depth=depth, window=_window(request)
            )
            return StreamingHttpResponse(lines, content_type="application/x-ndjson")
        walk = lineage_walk_json(
            user=request.user,
            artifact_id=artifact.pk,
            direction=direction,
            depth=depth,
            limit=_int(request, "limit", PAGE_LIMIT, 1, PAGE_LIMIT),
            after=request.query_params.get("after", "")[:40],
            window=_window(request),
            form=form,
        )
        next_url = None
        if walk.next_after:
            query = request.query_params.copy()
            query["after"] = walk.next_after
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        # Nodes and edges arrive as JSON text (thousands of them per page): spliced, not re-encoded.
        head = json.dumps({"root": str(artifact.pk), "direction": direction, "depth": depth, "form": walk.form})[:-1]
        edges = f', "edges": {walk.edges}' if walk.form == "full" else ""
        body = f'{head}, "nodes": {walk.nodes}{edges}, "next": {json.dumps(next_url)}}}'
        return HttpResponse(body.encode(), content_type="application/json")


class LineagePathApi(_LineageApi):
    @extend_schema(
        tags=["lineage"],
        operation_id="lineage_path",
        summary="A shortest lineage path between two artifacts",
        description="Either way round: from `from` downstream to `to`, else from `to` downstream to `from`.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, required=True),
            OpenApiParameter("to", OpenApiTypes.INT, required=True),
            OpenApiParameter("depth", OpenApiTypes.INT, default=20, description=f"Longest path, 1 to {MAX_DEPTH}."),
            AS_OF,
        ],
        responses={200: PathOutput, 400: ERROR, 404: ERROR},
    )
    def get(self, request):
        ids = []
        for name in ("from", "to"):
            raw = request.query_params.get(name, "")
            if not raw.isdigit():
                raise ValidationError({name: "an artifact id is required"})
            ids.append(artifact_get_for_user(user=request.user, pk=int(raw)).pk)
        path = lineage_path(
            user=request.user,
            from_id=ids[0],
            to_id=ids[1],
            depth=_int(request, "depth", 20, 1, MAX_DEPTH),
            window=_window(request),
        )
        return Response({"found": bool(path) or ids[0] == ids[1], "length": len(path), "edges": _links(path)})


class LineageImpactApi(_LineageApi):
    @extend_schema(
        tags=["lineage"],
        operation_id="lineage_impact",
        summary="Deployments that depend on an artifact, a dataset or a package",
        description=(
            "Every deployment downstream of the start artifacts, within `depth` edges. Start from `artifact` (id), "
            "`dataset` (identity, e.g. dataset:sha256:…) and/or `purl` (without a version: every version; "
            "a range as the version, e.g. pkg:pypi/requests@<2.32.0 or @>=2.0,<2.32.0: the versions in it, "
            "PEP 440 for pypi, dot-separated segments for other types). "
            "Only production deployments (environment prod, production, live, champion) unless `all=true`; "
            "only those running now, or at `as_of`."
        ),
        parameters=[
            OpenApiParameter("artifact", OpenApiTypes.INT),
            OpenApiParameter("dataset", OpenApiTypes.STR),
            OpenApiParameter(
                "purl", OpenApiTypes.STR, description="pkg:pypi/requests, pkg:pypi/requests@2.32.3 or @<2.32.0"
            ),
            OpenApiParameter("depth", OpenApiTypes.INT, default=20),
            OpenApiParameter("all", OpenApiTypes.BOOL, default=False),
            AS_OF,
        ],
        responses={200: ImpactOutput, 400: OpenApiResponse(ERROR, description="Nothing to start from.")},
    )
    def get(self, request):
        artifact = request.query_params.get("artifact", "")
        if artifact and not artifact.isdigit():
            raise ValidationError({"artifact": "must be an artifact id"})
        dataset, purl = request.query_params.get("dataset", "")[:2048], request.query_params.get("purl", "")[:2048]
        if not (artifact or dataset or purl):
            raise ValidationError("give artifact, dataset or purl")
        start = artifact_get_for_user(user=request.user, pk=int(artifact)).pk if artifact else None
        # A dataset or purl may match artifacts the caller may not see: start only from visible ones.
        roots = artifacts_visible_to(request.user, impact_roots(artifact_id=start, dataset=dataset, purl=purl))
        items = lineage_impact(
            user=request.user,
            roots=roots,
            depth=_int(request, "depth", 20, 1, MAX_DEPTH),
            production_only=request.query_params.get("all", "false") != "true",
            window=_window(request),
        )
        return Response(
            {
                "roots": [str(r) for r in roots],
                "deployments": [
                    {
                        "deployment": _node(i["deployment"]),
                        "environment": i["environment"],
                        "via": str(i["via"]),
                        "depth": i["depth"],
                        "valid_from": _time(i["valid_from"]),
                        "valid_to": _time(i["valid_to"]),
                    }
                    for i in items
                ],
            }
        )


class SystemProductionApi(_LineageApi):
    @extend_schema(
        tags=["lineage"],
        operation_id="system_production",
        summary="What is in production for a system, and what trained and built it",
        description="Production deployments running now, or at `as_of` (what ran in production on a past day).",
        parameters=[OpenApiParameter("depth", OpenApiTypes.INT, default=10), AS_OF],
        responses={200: ProductionOutput, 404: ERROR},
    )
    def get(self, request, slug: str):
        system = system_get_for_user(user=request.user, slug=slug)
        items = production_for_system(
            user=request.user,
            system_id=system.pk,
            depth=_int(request, "depth", 10, 1, MAX_DEPTH),
            window=_window(request),
        )
        return Response(
            {
                "system": system.slug,
                "deployments": [
                    {
                        "deployment": {
                            "id": str(i["deployment"].pk),
                            "kind": i["deployment"].kind,
                            "uri": i["deployment"].uri,
                            "name": i["deployment"].name,
                            "depth": 0,
                        },
                        "upstream": [_node(n) for n in i["upstream"]],
                        "valid_from": _time(i["valid_from"]),
                        "valid_to": _time(i["valid_to"]),
                    }
                    for i in items
                ],
            }
        )


def _artifact(artifact) -> dict:
    return {"id": str(artifact.pk), "kind": artifact.kind, "uri": artifact.uri, "name": artifact.name, "depth": 0}


def release_chain_json(chain) -> dict:
    """The JSON answer for one release chain (the API and the PDF use the same shape)."""
    return {
        "release": _artifact(chain.release),
        "complete": chain.complete,
        "missing": chain.missing,
        "links": [
            {"link": link.link, "present": link.present, "reason": link.reason,
             "artifacts": [_artifact(a) for a in link.artifacts]}  # fmt: skip
            for link in chain.links
        ],
        "commits": [_artifact(a) for a in chain.commits],
        "images": [_artifact(a) for a in chain.images],
        "deployments": [_artifact(a) for a in chain.deployments],
        "candidates": {"images": [a.uri for a in chain.candidate_images]},
    }


class ReleaseChainApi(_LineageApi):
    @extend_schema(
        tags=["lineage"],
        operation_id="release_chain",
        summary="A release's chain: commit -> build -> image -> release -> deployment, and what is missing",
        description=(
            "Each link holds only where evidence stated it (a deployment payload naming an image digest or a "
            "release tag, release notes naming an image digest, OCI revision labels, provenance subjects, "
            "pipeline runs). `missing` names each missing link with its reason. With `as_of`, only deployments "
            "running then count."
        ),
        parameters=[AS_OF],
        responses={200: ReleaseChainOutput, 400: ERROR, 404: ERROR},
    )
    def get(self, request, pk: int):
        artifact = artifact_get_for_user(user=request.user, pk=pk)
        chain = release_chain(user=request.user, release=artifact, window=_window(request))
        return Response(release_chain_json(chain))
