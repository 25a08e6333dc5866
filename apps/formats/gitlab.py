"""GitLab webhook payloads, keyed by the X-Gitlab-Event header and/or `object_kind`.

Verdicts: pipeline/job status "failed" fails (unless the job may fail), "success"
passes, anything else (canceled, skipped, manual, running...) is info. Deployment
status "failed" fails and "success" passes.
"""

from __future__ import annotations

import re

from .base import (
    MAX_LIST,
    Edge,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    guard,
    iso,
    load_json_object,
    obj,
    parse_datetime,
    text,
)
from .subjects import deployment_subject, images_in_text, is_null_sha, is_sha, release_subject, source_commit

LABEL = "GitLab"
HEADER_KINDS = {
    "pipeline hook": "pipeline",
    "job hook": "build",
    "build hook": "build",
    "deployment hook": "deployment",
    "release hook": "release",
    "push hook": "push",
    "tag push hook": "tag_push",
}
_COMMIT_IN_URL = re.compile(r"/commit/([0-9a-fA-F]{40}|[0-9a-fA-F]{64})(?:[/?#]|$)")


def _project(doc: dict) -> tuple[str, str]:
    project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
    url = text(project.get("web_url"), 1000) or text(project.get("homepage"), 1000)
    if not url:
        repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
        url = text(repo.get("homepage"), 1000) or text(repo.get("git_http_url"), 1000)
    name = text(project.get("path_with_namespace"), 300) or text(doc.get("project_name"), 300)
    return url, name


def _commit(repo_url: str, sha) -> Subject | None:
    # A forge's webhook always gives the full sha; anything shorter is not this commit's identity.
    if repo_url and isinstance(sha, str) and is_sha(sha):
        return source_commit(repo_url, sha)
    return None


def _user(doc: dict) -> str:
    user = doc.get("user") if isinstance(doc.get("user"), dict) else {}
    return text(user.get("username") or user.get("name"), 200) or text(
        doc.get("user_username") or doc.get("user_name"), 200
    )


def _status_verdict(status: str, what: str, allow_failure: bool = False) -> tuple[str, str]:
    if status == "failed":
        if allow_failure:
            return "info", f"{what} failed but is allowed to fail"
        return "fail", f"{what} failed"
    if status == "success":
        return "pass", f"{what} succeeded"
    return "info", f"{what} is {status or 'in an unknown state'}"


def _common(doc: dict, kind: str) -> dict:
    url, name = _project(doc)
    return {"object_kind": kind, "project": name, "project_url": url, "user": _user(doc)}


def _pipeline(doc: dict, kind: str) -> EvidenceFacts:
    attrs = obj(doc.get("object_attributes"), "object_attributes", LABEL, required=True)
    common = _common(doc, kind)
    status = text(attrs.get("status"), 50)
    verdict, reason = _status_verdict(status, "pipeline")
    builds = doc.get("builds") if isinstance(doc.get("builds"), list) else []
    failed = [
        text(b.get("name"), 200)
        for b in builds
        if isinstance(b, dict) and b.get("status") == "failed" and b.get("allow_failure") is not True
    ]
    if failed and verdict != "pass":
        reason += f" ({len(failed)} failed job{'s' if len(failed) != 1 else ''}: {', '.join(failed[:3])})"
    commit = _commit(common["project_url"], attrs.get("sha"))
    finished = parse_datetime(attrs.get("finished_at"))
    summary = {
        **common,
        "pipeline_id": attrs.get("id") if isinstance(attrs.get("id"), int) else None,
        "name": text(attrs.get("name"), 300),
        "ref": text(attrs.get("ref"), 300),
        "tag": attrs.get("tag") is True,
        "sha": text(attrs.get("sha"), 64),
        "source": text(attrs.get("source"), 100),
        "status": status,
        "stages": [text(s, 100) for s in attrs.get("stages") or []][:MAX_LIST]
        if isinstance(attrs.get("stages"), list)
        else [],
        "duration_seconds": attrs.get("duration")
        if isinstance(attrs.get("duration"), (int, float)) and not isinstance(attrs.get("duration"), bool)
        else None,
        "jobs_total": len(builds),
        "failed_jobs": failed[:MAX_LIST],
        "jobs": [
            {"name": text(b.get("name"), 200), "stage": text(b.get("stage"), 100), "status": text(b.get("status"), 50)}
            for b in builds[:MAX_LIST]
            if isinstance(b, dict)
        ],
        "url": text(attrs.get("url"), 1000),
        "created_at": iso(parse_datetime(attrs.get("created_at"))),
        "finished_at": iso(finished),
    }
    project = common["project"] or "unknown project"
    title = f"GitLab pipeline #{summary['pipeline_id']} on {project} ({summary['ref']}): {status or 'unknown'}"
    return EvidenceFacts(
        kind="pipeline-run",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=finished or parse_datetime(attrs.get("created_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _job(doc: dict, kind: str) -> EvidenceFacts:
    common = _common(doc, kind)
    name = text(doc.get("build_name"), 200) or "job"
    status = text(doc.get("build_status"), 50)
    allow_failure = doc.get("build_allow_failure") is True
    verdict, reason = _status_verdict(status, "job", allow_failure)
    if verdict == "fail" and doc.get("build_failure_reason"):
        reason += f" ({text(doc.get('build_failure_reason'), 100)})"
    commit = _commit(common["project_url"], doc.get("sha"))
    finished = parse_datetime(doc.get("build_finished_at_iso") or doc.get("build_finished_at"))
    started = parse_datetime(doc.get("build_started_at_iso") or doc.get("build_started_at"))
    runner = doc.get("runner") if isinstance(doc.get("runner"), dict) else {}
    environment = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    summary = {
        **common,
        "job_id": doc.get("build_id") if isinstance(doc.get("build_id"), int) else None,
        "job": name,
        "stage": text(doc.get("build_stage"), 100),
        "status": status,
        "allow_failure": allow_failure,
        "failure_reason": text(doc.get("build_failure_reason"), 100),
        "pipeline_id": doc.get("pipeline_id") if isinstance(doc.get("pipeline_id"), int) else None,
        "ref": text(doc.get("ref"), 300),
        "sha": text(doc.get("sha"), 64),
        "retries": doc.get("retries_count") if isinstance(doc.get("retries_count"), int) else None,
        "runner": text(runner.get("description"), 200),
        "environment": text(environment.get("name"), 200),
        "started_at": iso(started),
        "finished_at": iso(finished),
    }
    title = f"GitLab job '{name}' on {common['project'] or 'unknown project'}: {status or 'unknown'}"
    return EvidenceFacts(
        kind="job",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=finished
        or started
        or parse_datetime(doc.get("build_created_at_iso") or doc.get("build_created_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _deployment(doc: dict, kind: str) -> EvidenceFacts:
    common = _common(doc, kind)
    status = text(doc.get("status"), 50)
    environment = text(doc.get("environment"), 200) or "default"
    verdict, reason = _status_verdict(status, f"deployment to {environment}")
    match = _COMMIT_IN_URL.search(text(doc.get("commit_url"), 2000))
    commit = _commit(common["project_url"], match.group(1) if match else None)
    subjects, edges = ([commit] if commit else []), []
    dep_id = doc.get("deployment_id")
    if common["project_url"] and isinstance(dep_id, (int, str)) and not isinstance(dep_id, bool):
        try:
            dep_subject = deployment_subject(common["project_url"], environment, dep_id)
            subjects.append(dep_subject)
            if commit:
                edges.append(Edge(source=commit, target=dep_subject, relation="deployed-from"))
        except ParseError:
            pass
    changed = parse_datetime(doc.get("status_changed_at"))
    summary = {
        **common,
        "deployment_id": dep_id if isinstance(dep_id, int) else None,
        "environment": environment,
        "environment_tier": text(doc.get("environment_tier"), 100),
        "status": status,
        "short_sha": text(doc.get("short_sha"), 64),
        "commit_url": text(doc.get("commit_url"), 1000),
        "commit_title": text(doc.get("commit_title"), 300),
        "deployable_url": text(doc.get("deployable_url"), 1000),
        "environment_url": text(doc.get("environment_external_url"), 1000),
        "status_changed_at": iso(changed),
    }
    title = f"GitLab deployment of {common['project'] or 'unknown project'} to {environment}: {status or 'unknown'}"
    return EvidenceFacts(
        kind="deployment",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=changed,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


def _release(doc: dict, kind: str) -> EvidenceFacts:
    common = _common(doc, kind)
    tag = text(doc.get("tag"), 300)
    commit_info = doc.get("commit") if isinstance(doc.get("commit"), dict) else {}
    commit = _commit(common["project_url"], commit_info.get("id"))
    subjects, edges = [], []
    rel_subject = None
    if common["project_url"] and tag:
        try:
            rel_subject = release_subject(common["project_url"], tag)
            subjects.append(rel_subject)
            if commit:
                edges.append(Edge(source=commit, target=rel_subject, relation="released-from"))
        except ParseError:
            pass
    if commit:
        subjects.append(commit)
    released = parse_datetime(doc.get("released_at")) or parse_datetime(doc.get("created_at"))
    assets = doc.get("assets") if isinstance(doc.get("assets"), dict) else {}
    links = assets.get("links") if isinstance(assets.get("links"), list) else []
    # Images the release names by digest (an asset link of type image, or the description):
    # image -released-from-> release (issue 20, hole 3).
    images = []
    if rel_subject:
        named = " ".join(text(link.get("url"), 2000) for link in links if isinstance(link, dict))
        images = images_in_text(named + " " + text(doc.get("description"), 100_000))
        subjects += images
        edges += [Edge(source=image, target=rel_subject, relation="released-from") for image in images]
    action = text(doc.get("action"), 50)
    summary = {
        **common,
        "tag": tag,
        "name": text(doc.get("name"), 300),
        "action": action,
        "description": text(doc.get("description")),
        "url": text(doc.get("url"), 1000),
        "assets_total": assets.get("count") if isinstance(assets.get("count"), int) else None,
        "asset_links": [text(link.get("name"), 300) for link in links if isinstance(link, dict)][:MAX_LIST],
        "images": [image.uri for image in images],
        "released_at": iso(released),
    }
    title = f"GitLab release {tag or '(no tag)'} of {common['project'] or 'unknown project'}: {action or 'event'}"
    return EvidenceFacts(
        kind="release",
        title=title,
        verdict="info",
        verdict_reason=f"release {action or 'event'}",
        effective_at=released,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


def _push(doc: dict, kind: str) -> EvidenceFacts:
    common = _common(doc, kind)
    sha = doc.get("checkout_sha") or doc.get("after")
    commit = _commit(common["project_url"], sha)
    commits = doc.get("commits") if isinstance(doc.get("commits"), list) else []
    ref = text(doc.get("ref"), 300)
    head = next((c for c in commits if isinstance(c, dict) and c.get("id") == sha), None) or {}
    deleted = is_null_sha(doc.get("after") or "")
    effective_at = parse_datetime(head.get("timestamp"))
    total = doc.get("total_commits_count")
    summary = {
        **common,
        "ref": ref,
        "before": text(doc.get("before"), 64),
        "after": text(doc.get("after"), 64),
        "checkout_sha": text(doc.get("checkout_sha"), 64),
        "deleted": deleted,
        "commits_total": total if isinstance(total, int) and not isinstance(total, bool) else len(commits),
        "commits": [
            {
                "id": text(c.get("id"), 64),
                "message": text(c.get("title") or str(c.get("message") or "").split("\n", 1)[0], 200),
                "author": text((c.get("author") or {}).get("name") if isinstance(c.get("author"), dict) else "", 200),
            }
            for c in commits[:MAX_LIST]
            if isinstance(c, dict)
        ],
        "pushed_at": iso(effective_at),
    }
    noun = "tag push" if kind == "tag_push" else "push"
    what = "deleted" if deleted else "pushed"
    title = f"GitLab {noun} to {ref or 'unknown ref'} of {common['project'] or 'unknown project'}: {what}"
    return EvidenceFacts(
        kind="push",
        title=title,
        verdict="info",
        verdict_reason=f"{ref or 'ref'} {what}",
        effective_at=effective_at,
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _generic(doc: dict, kind: str) -> EvidenceFacts:
    common = _common(doc, kind)
    title = f"GitLab {kind or 'unknown'} event" + (f" on {common['project']}" if common["project"] else "")
    return EvidenceFacts(
        kind="generic",
        title=title,
        verdict="info",
        verdict_reason=f"{kind or 'unknown'} events are recorded as they are",
        effective_at=None,
        subjects=[],
        summary={**common, "keys": sorted(text(k, 100) for k in doc)[:MAX_LIST]},
    )


HANDLERS = {
    "pipeline": _pipeline,
    "build": _job,
    "deployment": _deployment,
    "release": _release,
    "push": _push,
    "tag_push": _push,
}


@guard(LABEL)
def parse_gitlab(event: str, body: bytes) -> ParseResult:
    """One evidence item for a GitLab webhook; `event` is the X-Gitlab-Event value or an object_kind."""
    event = event.strip() if isinstance(event, str) else ""
    doc = load_json_object(body, f"{LABEL} {event or 'webhook'}")
    object_kind = text(doc.get("object_kind"), 100)
    header_kind = HEADER_KINDS.get(event.lower(), event.lower().replace(" hook", "").replace(" ", "_") if event else "")
    if header_kind == "job":
        header_kind = "build"
    if object_kind and header_kind and header_kind in HANDLERS and object_kind != header_kind:
        raise ParseError(f"{LABEL}: the event header says {event!r} but the payload's object_kind is {object_kind!r}")
    kind = object_kind or header_kind
    handler = HANDLERS.get(kind, _generic)
    return ParseResult(format="gitlab", evidence=[handler(doc, kind)])
