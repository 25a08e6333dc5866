"""Lineage: walks of the artifact graph (recursive CTEs in PostgreSQL), impact, production, drawings.

- `walk.py`: the relation vocabulary, time windows, scoping, walks and paths (its docstring
  explains the semantics), pages in the full or the compact form;
- `stream.py`: a whole walk as NDJSON from a server-side cursor;
- `chain.py`: a release's chain, commit -> build -> image -> release -> deployment, and its missing links
  (one release, or many in a fixed number of queries for the overview and packs);
- `backfill.py`: periods for deployment edges written without one (migration 0008 and a command);
- `impact.py`: what a package, dataset or artifact reaches; what a system runs in production;
- `api.py`, `views.py`, `svg.py`: the JSON API, the HTML panel and the Graphviz drawing.

The selectors are re-exported here, so callers import them from `apps.evidence.lineage`.
The API, views and drawing are imported from their modules (they need DRF and templates).
"""

from apps.evidence.lineage.chain import ReleaseChain, release_chain, release_chains, release_chains_for_user
from apps.evidence.lineage.impact import (
    MAX_PACKAGE_VERSIONS,
    UPSTREAM_KINDS_OF_INTEREST,
    impact_roots,
    lineage_impact,
    production_for_system,
    purl_version_matches,
)
from apps.evidence.lineage.stream import lineage_walk_ndjson
from apps.evidence.lineage.walk import (
    COMPACT_ABOVE,
    DEFAULT_DEPTH,
    DIRECTIONS,
    FORMS,
    MAX_DEPTH,
    PAGE_LIMIT,
    PRODUCTION_ENVIRONMENTS,
    RELATION_ALIASES,
    RELATIONS,
    LineageQueryError,
    Link,
    Node,
    Walk,
    WalkJson,
    Window,
    artifacts_visible_to,
    as_of_window,
    canonical_relation,
    deployment_environment,
    deployment_periods,
    deployments_running,
    lineage_graph,
    lineage_path,
    lineage_walk,
    lineage_walk_json,
    now_window,
    scope_lineage_edges,
    valid_in,
    visible_artifacts_q,
)

__all__ = [
    "COMPACT_ABOVE",
    "DEFAULT_DEPTH",
    "DIRECTIONS",
    "FORMS",
    "MAX_DEPTH",
    "MAX_PACKAGE_VERSIONS",
    "PAGE_LIMIT",
    "PRODUCTION_ENVIRONMENTS",
    "RELATIONS",
    "RELATION_ALIASES",
    "UPSTREAM_KINDS_OF_INTEREST",
    "LineageQueryError",
    "Link",
    "Node",
    "ReleaseChain",
    "Walk",
    "WalkJson",
    "Window",
    "artifacts_visible_to",
    "as_of_window",
    "canonical_relation",
    "deployment_environment",
    "deployment_periods",
    "deployments_running",
    "impact_roots",
    "lineage_graph",
    "lineage_impact",
    "lineage_path",
    "lineage_walk",
    "lineage_walk_json",
    "lineage_walk_ndjson",
    "now_window",
    "production_for_system",
    "purl_version_matches",
    "release_chain",
    "release_chains",
    "release_chains_for_user",
    "scope_lineage_edges",
    "valid_in",
    "visible_artifacts_q",
]
