# SQL here is assembled from our own identifiers (edge table or scoped subquery, column names);
# every value is a query parameter.
# ruff: noqa: S608
"""Impact and production: which artifacts a package, dataset or artifact reaches downstream, and
what a system runs in production with everything upstream of it.

Both walk the same scoped, time-windowed edges as `walk.py` (see its docstring: relations,
walk semantics, scoping, time, production environments); impact and production default to
the present instant.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from apps.accounts.scoping import scope_by_system
from apps.evidence.lineage.walk import (
    _ENV_SQL,
    PRODUCTION_ENVIRONMENTS,
    LineageQueryError,
    Node,
    Window,
    _check,
    _edges_sql,
    _run,
    _walk_cte,
    deployment_environment,
    deployment_periods,
    deployments_running,
    now_window,
)
from apps.evidence.models import Artifact
from apps.formats import ParseError, normalize_subject

# A version range in a purl's version part (issue 20): comparators joined by commas, all must hold.
_RANGE_CLAUSE = re.compile(r"^(<=|>=|==|!=|~=|<|>|=)\s*([^\s<>=!~,]+)$")
MAX_PACKAGE_VERSIONS = 100_000


def _range_clauses(spec: str) -> list[tuple[str, str]]:
    clauses = []
    for part in spec.split(","):
        match = _RANGE_CLAUSE.match(part.strip())
        if not match:
            raise LineageQueryError(
                f"{spec[:100]!r} is not a version range: use comparators (<, <=, >, >=, ==, !=, ~=) joined by "
                "commas, e.g. pkg:pypi/requests@>=2.0,<2.32.0"
            )
        clauses.append((match.group(1), match.group(2)))
    return clauses


def _segment_key(version: str) -> tuple:
    """An order for versions outside PEP 440: a leading "v" and "+build" are dropped, dot-separated
    segments compare as numbers when numeric (else as text, after numbers), trailing zeros do not
    count (1.0 == 1.0.0), and a pre-release ("2.0.0-beta.1", semver) sorts before its release."""
    version = version.strip()
    version = version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version
    version = version.split("+", 1)[0]
    main, _, pre = version.partition("-")

    def segments(value: str) -> list[tuple]:
        out = [(0, int(seg), "") if seg.isdigit() else (1, 0, seg.lower()) for seg in re.split(r"[._]", value) if seg]
        while out and out[-1] == (0, 0, ""):
            out.pop()
        return out

    return (tuple(segments(main)), 0 if pre else 1, tuple(segments(pre)))


def _segment_matches(version: str, op: str, bound: str) -> bool:
    have, want = _segment_key(version), _segment_key(bound)
    if op == "~=":  # compatible release, as in PEP 440: >= bound, same prefix but the last segment
        prefix = want[0][:-1] if len(want[0]) > 1 else want[0]
        return have >= want and have[0][: len(prefix)] == prefix
    return {
        "<": have < want,
        "<=": have <= want,
        ">": have > want,
        ">=": have >= want,
        "=": have == want,
        "==": have == want,
        "!=": have != want,
    }[op]


def purl_version_matches(ptype: str, version: str, spec: str) -> bool:
    """Whether a package version lies in a range (comparators joined by commas, all must hold).

    pypi: PEP 440 through `packaging` (pre-releases included: an advisory's range covers them);
    other types, and pypi versions PEP 440 cannot read: the segment order of `_segment_key`."""
    clauses = _range_clauses(spec)
    if ptype == "pypi":
        try:
            specifiers = SpecifierSet(",".join(f"{'==' if op == '=' else op}{bound}" for op, bound in clauses))
            return specifiers.contains(Version(version), prereleases=True)
        except InvalidSpecifier:
            raise LineageQueryError(f"{spec[:100]!r} is not a PEP 440 version range") from None
        except InvalidVersion:
            pass  # not PEP 440 (a local build's version): compare by segments
    return all(_segment_matches(version, op, bound) for op, bound in clauses)


def _purl_range(purl: str) -> tuple[str, str]:
    """(the purl without its version, the range) when the version part is a range; (purl, "") else."""
    head = purl.split("#", 1)[0].split("?", 1)[0]
    at = head.rfind("@")
    if at == -1 or at < head.rfind("/"):
        return purl, ""
    version = unquote(head[at + 1 :])
    if version[:1] not in ("<", ">", "=", "!", "~"):
        return purl, ""
    return head[:at], version


def impact_roots(*, artifact_id: int | None = None, dataset: str = "", purl: str = "") -> list[int]:
    """The artifacts an impact question starts from: an id, a dataset identity, or packages by purl.

    A purl without a version matches every version of the package; with a version, that version;
    with a range as its version (``pkg:pypi/requests@<2.32.0``), the versions in it
    (purl_version_matches)."""
    ids: set[int] = set()
    if artifact_id:
        ids.add(artifact_id)
    if dataset:
        try:
            uri = normalize_subject(dataset).uri
        except ParseError as exc:
            raise LineageQueryError(str(exc)) from None
        ids.update(Artifact.objects.filter(uri=uri).values_list("id", flat=True))
    if purl:
        purl, version_range = _purl_range(purl)
        try:
            uri = normalize_subject(purl).uri
        except ParseError as exc:
            raise LineageQueryError(str(exc)) from None
        if not uri.startswith("pkg:"):
            raise LineageQueryError(f"{purl[:100]!r} is not a purl")
        base = uri.split("?", 1)[0]
        matches = Artifact.objects.filter(kind=Artifact.Kind.PACKAGE)
        if version_range:
            if "@" in base:
                raise LineageQueryError("a purl has one version or one range, not both")
            _range_clauses(version_range)  # refuse a bad range even when no version is known
            ptype = base[4:].split("/", 1)[0]
            candidates = matches.filter(uri__startswith=base + "@").values_list("id", "uri")
            for pk, candidate in candidates[:MAX_PACKAGE_VERSIONS]:
                version = unquote(candidate[len(base) + 1 :].split("?", 1)[0].split("#", 1)[0])
                if purl_version_matches(ptype, version, version_range):
                    ids.add(pk)
        else:
            # pkg:pypi/requests matches every version; pkg:pypi/requests@2.32.3 that version only.
            matches = matches.filter(uri=base) | matches.filter(uri__startswith=base + ("?" if "@" in base else "@"))
            ids.update(matches.values_list("id", flat=True)[:10000])
    return sorted(ids)


def lineage_impact(
    *, user, roots: list[int], depth: int = 20, production_only: bool = True, window: Window | None = None
) -> list[dict]:
    """Deployments downstream of any root within `depth` that ran in `window` (default: running now):
    [{deployment: Node, via: root id, depth, environment, valid_from, valid_to}]."""
    _check("downstream", depth)
    if not roots:
        return []
    window = window or now_window()
    edges, edge_params = _edges_sql(user, window)
    production = f"AND {_ENV_SQL} = ANY(%(environments)s)" if production_only else ""
    sql = (
        _walk_cte("downstream", edges)
        + f"""
SELECT DISTINCT ON (a.id) a.id, r.depth, a.kind, a.uri, a.name, a.system_id, r.root, {_ENV_SQL}
FROM reach r JOIN evidence_artifact a ON a.id = r.id
WHERE a.kind = 'deployment' {production}
ORDER BY a.id, r.depth, r.root
"""
    )
    rows = _run(
        sql, {"roots": roots, "depth": depth, "environments": list(PRODUCTION_ENVIRONMENTS)}, edge_params, edges
    )
    periods = deployment_periods([r[0] for r in rows], window)
    return sorted(
        (
            {
                "deployment": Node(id=r[0], depth=r[1], kind=r[2], uri=r[3], name=r[4], system_id=r[5]),
                "via": r[6],
                "depth": r[1],
                "environment": r[7] or "",
                "valid_from": periods.get(r[0], (None, None))[0],
                "valid_to": periods.get(r[0], (None, None))[1],
            }
            for r in rows
        ),
        key=lambda d: (d["depth"], d["deployment"].id),
    )


UPSTREAM_KINDS_OF_INTEREST = ("model-version", "run", "dataset", "commit", "image", "job")


def production_for_system(*, user, system_id: int, depth: int = 10, window: Window | None = None) -> list[dict]:
    """What is in production for a system — running in `window`, default now — and what it came from:
    [{deployment, upstream: [Node], valid_from, valid_to}]."""
    _check("upstream", depth)
    window = window or now_window()
    deployments = scope_by_system(user, deployments_running(window=window).filter(system_id=system_id), "system")
    deployments = deployments.order_by("-first_seen", "id")
    roots = {a.pk: a for a in deployments[:1000] if deployment_environment(a.uri) in PRODUCTION_ENVIRONMENTS}
    if not roots:
        return []
    edges, edge_params = _edges_sql(user, window)
    sql = (
        _walk_cte("upstream", edges)
        + """
SELECT r.root, a.id, r.depth, a.kind, a.uri, a.name, a.system_id
FROM reach r JOIN evidence_artifact a ON a.id = r.id
WHERE r.depth > 0 AND a.kind = ANY(%(kinds)s)
ORDER BY r.root, r.depth, a.id
"""
    )
    rows = _run(
        sql, {"roots": list(roots), "depth": depth, "kinds": list(UPSTREAM_KINDS_OF_INTEREST)}, edge_params, edges
    )
    upstream: dict[int, list[Node]] = {pk: [] for pk in roots}
    for root, *rest in rows:
        upstream[root].append(
            Node(id=rest[0], depth=rest[1], kind=rest[2], uri=rest[3], name=rest[4], system_id=rest[5])
        )
    periods = deployment_periods(list(roots), window)
    return [
        {
            "deployment": artifact,
            "upstream": upstream[pk],
            "valid_from": periods.get(pk, (None, None))[0],
            "valid_to": periods.get(pk, (None, None))[1],
        }
        for pk, artifact in roots.items()
    ]
