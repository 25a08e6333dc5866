"""The lineage panel of the artifact page: the drawing, with direction, depth and path controls (htmx)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.evidence.lineage import MAX_DEPTH
from apps.evidence.lineage.svg import MAX_NODES, LineageRenderError, lineage_drawing, walk_svg
from apps.evidence.models import Artifact
from apps.evidence.selectors import artifact_get_for_user

DIRECTION_CHOICES = [
    ("both", "Both ways"),
    ("upstream", "Upstream (came from)"),
    ("downstream", "Downstream (went into)"),
]
DEPTH_CHOICES = [1, 2, 3, 4, 5, 6, 8, 10]
PANEL_MAX_DEPTH = min(10, MAX_DEPTH)


def _int(value: str, default: int, low: int, high: int) -> int:
    return int(value) if value.isdigit() and low <= int(value) <= high else default


def lineage_context(request, artifact: Artifact) -> dict:
    """What the panel shows for this request's direction, depth and highlight (bad values fall back)."""
    direction = request.GET.get("direction", "both")
    if direction not in dict(DIRECTION_CHOICES):
        direction = "both"
    depth = _int(request.GET.get("depth", ""), 3, 1, PANEL_MAX_DEPTH)
    highlight = _int(request.GET.get("highlight", ""), 0, 1, 2**62) or None
    walk = lineage_drawing(artifact, direction, depth, user=request.user)
    svg, error = "", ""
    if len(walk.nodes) > 1:
        try:
            svg = walk_svg(walk, highlight=highlight, user=request.user)
        except LineageRenderError as exc:
            error = str(exc)
    return {
        "lineage_panel": {
            "artifact": artifact,
            "direction": direction,
            "depth": depth,
            "highlight": highlight,
            "svg": svg,
            "error": error,
            "nodes": [n for n in walk.nodes if n.id != artifact.pk],
            "node_count": len(walk.nodes),
            "edge_count": len(walk.edges),
            "cut": bool(walk.next_after),
            "max_nodes": MAX_NODES,
            "direction_choices": DIRECTION_CHOICES,
            "depth_choices": DEPTH_CHOICES,
        }
    }


@login_required
def artifact_lineage_panel(request, pk: int):
    """The panel alone: what the htmx controls swap in."""
    artifact = artifact_get_for_user(user=request.user, pk=pk)
    return render(request, "evidence/_lineage.html", lineage_context(request, artifact))
