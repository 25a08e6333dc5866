"""The lineage drawing: Graphviz `dot` lays the graph out left to right, to SVG, on the server.

`lineage_svg()` is the one way to draw lineage: the artifact page embeds it and evidence
packs can reuse it as a vector image. Nodes are filled by artifact kind and outlined by
the verdict of the evidence about them (fail red, pass green, info grey, none dashed);
each node links to its artifact page; a chosen node's path from the root is drawn bold.
"""

from __future__ import annotations

import re
import subprocess

from django.conf import settings
from django.urls import reverse

from apps.accounts.scoping import scope_evidence
from apps.evidence.lineage import RELATIONS, Walk, lineage_graph, lineage_path
from apps.evidence.models import Artifact, Evidence

DOT_TIMEOUT = 15
MAX_NODES = 150  # per direction; more is cut (the page says so)

KIND_FILL = {
    "commit": "#dbeafe",
    "image": "#ede9fe",
    "package": "#f1f5f9",
    "model-version": "#ffedd5",
    "dataset": "#dcfce7",
    "run": "#fef9c3",
    "job": "#fce7f3",
    "release": "#cffafe",
    "deployment": "#e0e7ff",
    "file": "#f5f5f4",
    "other": "#f8fafc",
}
VERDICT_PEN = {
    "fail": ("#b3261e", "2.6", "solid"),
    "pass": ("#2e7d32", "2.0", "solid"),
    "info": ("#56606d", "1.2", "solid"),
    "": ("#9aa3ad", "1.0", "dashed"),
}
HIGHLIGHT = "#d97706"


class LineageRenderError(RuntimeError):
    """The layout program failed or is missing; the message says what to do."""


def _escape(value: str) -> str:
    """Text for inside a DOT double-quoted string: backslashes and quotes escaped, no control characters."""
    clean = re.sub(r"[\x00-\x1f\x7f]", " ", str(value))
    return clean.replace("\\", "\\\\").replace('"', '\\"')


def _quote(value: str) -> str:
    return f'"{_escape(value)}"'


class _Lines(str):
    """Already-escaped label text whose \\n are DOT line breaks."""


def _short(value: str, limit: int = 38) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def node_verdicts(ids: list[int], *, user=None) -> dict[int, str]:
    """Per artifact, the verdict of the evidence about it the user may see: fail > pass > info."""
    if not ids:
        return {}
    qs = Evidence.objects.filter(subject_links__artifact_id__in=ids)
    if user is not None:
        qs = scope_evidence(user, qs)  # per engagement: its systems with its own observation window
    rank = {"fail": 3, "pass": 2, "info": 1}
    out: dict[int, str] = {}
    for artifact_id, verdict in qs.values_list("subject_links__artifact_id", "verdict").distinct():
        if rank.get(verdict, 0) > rank.get(out.get(artifact_id, ""), 0):
            out[artifact_id] = verdict
    return out


def graph_dot(walk: Walk, *, verdicts: dict[int, str], highlight_edges: set[tuple[int, int]] = frozenset()) -> str:
    """The DOT text of a walk (pure: no database, no subprocess)."""
    on_path = {n for edge in highlight_edges for n in edge}
    lines = [
        "digraph lineage {",
        '  graph [rankdir=LR, bgcolor="transparent", nodesep=0.25, ranksep=0.55, fontname="DejaVu Sans"];',
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=10, margin="0.12,0.06"];',
        '  edge [fontname="DejaVu Sans", fontsize=8, color="#7b8794", fontcolor="#56606d", arrowsize=0.7];',
    ]
    for node in walk.nodes:
        color, width, style = VERDICT_PEN[verdicts.get(node.id, "")]
        kind_label = node.kind.replace("-", " ").upper()
        attrs = {
            "id": f"lineage_node_{node.id}",
            "label": _Lines(f"{_escape(kind_label)}\\n{_escape(_short(node.label))}"),
            "fillcolor": KIND_FILL.get(node.kind, KIND_FILL["other"]),
            "color": HIGHLIGHT if node.id in on_path else color,
            "penwidth": "3" if node.id in on_path or node.id == walk.root else width,
            "style": f"rounded,filled,{'bold' if node.id == walk.root else style}",
            "URL": reverse("evidence:artifact", kwargs={"pk": node.id}),
            "target": "_top",
            "tooltip": f"{node.uri} ({verdicts.get(node.id) or 'no evidence'})",
        }
        if node.id == walk.root:
            attrs["peripheries"] = "2"
        rendered = ", ".join(f'{k}="{v}"' if isinstance(v, _Lines) else f"{k}={_quote(v)}" for k, v in attrs.items())
        lines.append(f"  n{node.id} [{rendered}];")
    for edge in walk.edges:
        strong = (edge.source, edge.target) in highlight_edges
        attrs = {
            "label": edge.relation,
            "tooltip": RELATIONS.get(edge.relation, edge.relation),
            "id": f"lineage_edge_{edge.source}-{edge.target}",
        }
        if strong:
            attrs.update(color=HIGHLIGHT, penwidth="3", fontcolor=HIGHLIGHT)
        lines.append(
            f"  n{edge.source} -> n{edge.target} [" + ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "];"
        )
    lines.append("}")
    return "\n".join(lines)


def dot_to_svg(dot: str) -> str:
    """Run Graphviz; the SVG element alone (no XML prologue), ready to embed in a page."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program, our own input on stdin
            [settings.PORTAL_GRAPHVIZ_DOT, "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise LineageRenderError(
            f"Graphviz is not installed ({settings.PORTAL_GRAPHVIZ_DOT!r} not found): apt-get install graphviz"
        ) from None
    except subprocess.TimeoutExpired:
        raise LineageRenderError(f"the layout took longer than {DOT_TIMEOUT} s; choose a smaller depth") from None
    if done.returncode != 0:
        raise LineageRenderError(f"dot failed: {done.stderr.decode(errors='replace')[:300]}")
    svg = done.stdout.decode()
    start = svg.find("<svg")
    return svg[start:] if start != -1 else svg


def lineage_svg(
    artifact: Artifact | int, direction: str = "both", depth: int = 3, highlight: int | None = None, *, user=None
) -> str:
    """The lineage of `artifact` drawn as SVG. `user` narrows what is drawn to what they may see;
    None is for callers that scoped already (evidence packs built for a checked scope)."""
    walk = lineage_drawing(artifact, direction, depth, user=user)
    return walk_svg(walk, highlight=highlight, user=user)


def lineage_drawing(artifact: Artifact | int, direction: str, depth: int, *, user=None) -> Walk:
    artifact_id = artifact.pk if isinstance(artifact, Artifact) else int(artifact)
    return lineage_graph(user=user, artifact_id=artifact_id, direction=direction, depth=depth, limit=MAX_NODES)


def walk_svg(walk: Walk, *, highlight: int | None = None, user=None) -> str:
    highlight_edges: set[tuple[int, int]] = set()
    if highlight and highlight != walk.root and any(n.id == highlight for n in walk.nodes):
        path = lineage_path(user=user, from_id=walk.root, to_id=highlight, depth=max(1, walk.depth))
        highlight_edges = {(e.source, e.target) for e in path}
    verdicts = node_verdicts([n.id for n in walk.nodes], user=user)
    return dot_to_svg(graph_dot(walk, verdicts=verdicts, highlight_edges=highlight_edges))
