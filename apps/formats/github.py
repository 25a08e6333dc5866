"""GitHub webhook payloads (the X-GitHub-Event header names the event).

Verdicts: a conclusion of failure, timed_out or startup_failure fails; success
passes; everything else (cancelled, skipped, neutral, stale, action_required, still
running) is info, because it says nothing about whether the checked code is good.
A cancelled run is usually superseded by a newer one and would otherwise raise false
alarms. deployment_status failure/error fails, success passes; so does a commit
status (the `status` event).
"""

from __future__ import annotations

import json

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
from .subjects import (
    chain_edges,
    deployment_payload_links,
    deployment_subject,
    image_subject,
    images_in_text,
    is_sha,
    purl_subject,
    release_subject,
    source_commit,
)

LABEL = "GitHub"
FAILING = {"failure", "timed_out", "startup_failure"}


def _verdict(conclusion: str, status: str, what: str) -> tuple[str, str]:
    if conclusion in FAILING:
        return "fail", f"{what} concluded {conclusion}"
    if conclusion == "success":
        return "pass", f"{what} concluded success"
    if conclusion:
        return "info", f"{what} concluded {conclusion}, which is neither a pass nor a failure"
    return "info", f"{what} is {status or 'not finished'}"


def _login(value) -> str:
    return text(value.get("login"), 200) if isinstance(value, dict) else ""


def _repo(doc: dict) -> tuple[str, str]:
    repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
    return text(repo.get("html_url"), 1000), text(repo.get("full_name"), 300)


def _commit(repo_url: str, sha) -> Subject | None:
    # A forge's webhook always gives the full sha; anything shorter is not this commit's identity.
    if repo_url and isinstance(sha, str) and is_sha(sha):
        return source_commit(repo_url, sha)
    return None


def _common(doc: dict, event: str) -> dict:
    repo_url, full_name = _repo(doc)
    return {
        "event": event,
        "action": text(doc.get("action"), 100),
        "repository": full_name,
        "repository_url": repo_url,
        "sender": _login(doc.get("sender")),
    }


def _workflow_run(doc: dict, event: str) -> EvidenceFacts:
    run = obj(doc.get("workflow_run"), "workflow_run", LABEL, required=True)
    common = _common(doc, event)
    workflow = doc.get("workflow") if isinstance(doc.get("workflow"), dict) else {}
    name = text(run.get("name"), 200) or text(workflow.get("name"), 200) or "workflow"
    conclusion, status = text(run.get("conclusion"), 50), text(run.get("status"), 50)
    verdict, reason = _verdict(conclusion, status, "workflow run")
    commit = _commit(common["repository_url"], run.get("head_sha"))
    completed = parse_datetime(run.get("updated_at")) if status == "completed" else None
    head_commit = run.get("head_commit") if isinstance(run.get("head_commit"), dict) else {}
    summary = {
        **common,
        "workflow": name,
        "workflow_path": text(workflow.get("path") or run.get("path"), 300),
        "run_id": run.get("id") if isinstance(run.get("id"), int) else None,
        "run_number": run.get("run_number") if isinstance(run.get("run_number"), int) else None,
        "run_attempt": run.get("run_attempt") if isinstance(run.get("run_attempt"), int) else None,
        "trigger": text(run.get("event"), 100),
        "branch": text(run.get("head_branch"), 300),
        "head_sha": text(run.get("head_sha"), 64),
        "status": status,
        "conclusion": conclusion,
        "actor": _login(run.get("triggering_actor")) or _login(run.get("actor")) or common["sender"],
        "commit_message": text(head_commit.get("message"), 300),
        "html_url": text(run.get("html_url"), 1000),
        "started_at": iso(parse_datetime(run.get("run_started_at") or run.get("created_at"))),
        "updated_at": iso(parse_datetime(run.get("updated_at"))),
    }
    number_ = f" #{summary['run_number']}" if summary["run_number"] is not None else ""
    repo_name = common["repository"] or "unknown repository"
    title = f"GitHub workflow '{name}'{number_} on {repo_name}: {conclusion or status or 'unknown'}"
    return EvidenceFacts(
        kind="pipeline-run",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=completed or parse_datetime(run.get("updated_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _workflow_job(doc: dict, event: str) -> EvidenceFacts:
    job = obj(doc.get("workflow_job"), "workflow_job", LABEL, required=True)
    common = _common(doc, event)
    name = text(job.get("name"), 200) or "job"
    conclusion, status = text(job.get("conclusion"), 50), text(job.get("status"), 50)
    verdict, reason = _verdict(conclusion, status, "job")
    steps = job.get("steps") if isinstance(job.get("steps"), list) else []
    failed_steps = [
        text(step.get("name"), 200)
        for step in steps
        if isinstance(step, dict) and text(step.get("conclusion"), 50) in FAILING
    ]
    if verdict == "fail" and failed_steps:
        reason += f" (failed step: {', '.join(failed_steps[:3])})"
    commit = _commit(common["repository_url"], job.get("head_sha"))
    summary = {
        **common,
        "job": name,
        "workflow": text(job.get("workflow_name"), 200),
        "run_id": job.get("run_id") if isinstance(job.get("run_id"), int) else None,
        "job_id": job.get("id") if isinstance(job.get("id"), int) else None,
        "branch": text(job.get("head_branch"), 300),
        "head_sha": text(job.get("head_sha"), 64),
        "status": status,
        "conclusion": conclusion,
        "actor": common["sender"],
        "runner": text(job.get("runner_name"), 200),
        "labels": [text(label, 100) for label in (job.get("labels") or [])][:MAX_LIST]
        if isinstance(job.get("labels"), list)
        else [],
        "steps_total": len(steps),
        "failed_steps": failed_steps[:MAX_LIST],
        "html_url": text(job.get("html_url"), 1000),
        "started_at": iso(parse_datetime(job.get("started_at"))),
        "completed_at": iso(parse_datetime(job.get("completed_at"))),
    }
    title = (
        f"GitHub job '{name}' on {common['repository'] or 'unknown repository'}: {conclusion or status or 'unknown'}"
    )
    return EvidenceFacts(
        kind="job",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=parse_datetime(job.get("completed_at")) or parse_datetime(job.get("started_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _app_name(value) -> str:
    return text(value.get("name"), 200) if isinstance(value, dict) else ""


def _check_run(doc: dict, event: str) -> EvidenceFacts:
    run = obj(doc.get("check_run"), "check_run", LABEL, required=True)
    common = _common(doc, event)
    suite = run.get("check_suite") if isinstance(run.get("check_suite"), dict) else {}
    output = run.get("output") if isinstance(run.get("output"), dict) else {}
    name = text(run.get("name"), 200) or "check"
    conclusion, status = text(run.get("conclusion"), 50), text(run.get("status"), 50)
    verdict, reason = _verdict(conclusion, status, "check run")
    commit = _commit(common["repository_url"], run.get("head_sha"))
    summary = {
        **common,
        "check": name,
        "app": _app_name(run.get("app")),
        "branch": text(suite.get("head_branch"), 300),
        "head_sha": text(run.get("head_sha"), 64),
        "status": status,
        "conclusion": conclusion,
        "actor": common["sender"],
        "output_title": text(output.get("title"), 300),
        "output_summary": text(output.get("summary")),
        "annotations_count": output.get("annotations_count")
        if isinstance(output.get("annotations_count"), int)
        else None,
        "html_url": text(run.get("html_url"), 1000),
        "details_url": text(run.get("details_url"), 1000),
        "started_at": iso(parse_datetime(run.get("started_at"))),
        "completed_at": iso(parse_datetime(run.get("completed_at"))),
    }
    title = (
        f"GitHub check '{name}' on {common['repository'] or 'unknown repository'}: {conclusion or status or 'unknown'}"
    )
    return EvidenceFacts(
        kind="check-run",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=parse_datetime(run.get("completed_at")) or parse_datetime(run.get("started_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _check_suite(doc: dict, event: str) -> EvidenceFacts:
    suite = obj(doc.get("check_suite"), "check_suite", LABEL, required=True)
    common = _common(doc, event)
    app = _app_name(suite.get("app")) or "check suite"
    conclusion, status = text(suite.get("conclusion"), 50), text(suite.get("status"), 50)
    verdict, reason = _verdict(conclusion, status, "check suite")
    commit = _commit(common["repository_url"], suite.get("head_sha"))
    summary = {
        **common,
        "app": app,
        "branch": text(suite.get("head_branch"), 300),
        "head_sha": text(suite.get("head_sha"), 64),
        "status": status,
        "conclusion": conclusion,
        "actor": common["sender"],
        "check_runs": suite.get("latest_check_runs_count")
        if isinstance(suite.get("latest_check_runs_count"), int)
        else None,
        "updated_at": iso(parse_datetime(suite.get("updated_at"))),
    }
    repo_name = common["repository"] or "unknown repository"
    title = f"GitHub check suite '{app}' on {repo_name}: {conclusion or status or 'unknown'}"
    return EvidenceFacts(
        kind="check-suite",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=parse_datetime(suite.get("updated_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _deployment(doc: dict, event: str) -> EvidenceFacts:
    deployment = obj(doc.get("deployment"), "deployment", LABEL, required=True)
    status = obj(doc.get("deployment_status"), "deployment_status", LABEL, required=event == "deployment_status")
    common = _common(doc, event)
    environment = text(status.get("environment") or deployment.get("environment"), 200) or "default"
    commit = _commit(common["repository_url"], deployment.get("sha"))
    subjects, edges = [], []
    if commit:
        subjects.append(commit)
    dep_id = deployment.get("id")
    image, release = deployment_payload_links(deployment.get("payload"), common["repository_url"])
    if common["repository_url"] and isinstance(dep_id, (int, str)) and not isinstance(dep_id, bool):
        try:
            dep_subject = deployment_subject(common["repository_url"], environment, dep_id)
            subjects.append(dep_subject)
            if commit:
                edges.append(Edge(source=commit, target=dep_subject, relation="deployed-from"))
            edges += chain_edges(image, release, dep_subject)
        except ParseError:
            pass
    subjects += [s for s in (image, release) if s]
    state = text(status.get("state"), 50)
    if event == "deployment_status":
        if state in ("failure", "error"):
            verdict, reason = "fail", f"deployment to {environment} ended in {state}"
        elif state == "success":
            verdict, reason = "pass", f"deployment to {environment} succeeded"
        else:
            verdict, reason = "info", f"deployment to {environment} is {state or 'in an unknown state'}"
        effective_at = parse_datetime(status.get("updated_at")) or parse_datetime(status.get("created_at"))
    else:
        verdict, reason = "info", f"deployment to {environment} was requested"
        effective_at = parse_datetime(deployment.get("created_at"))
    summary = {
        **common,
        "environment": environment,
        "deployment_id": dep_id if isinstance(dep_id, int) else None,
        "ref": text(deployment.get("ref"), 300),
        "sha": text(deployment.get("sha"), 64),
        "task": text(deployment.get("task"), 100),
        "image": image.uri if image else "",
        "release": release.uri if release else "",
        "state": state,
        "actor": _login(status.get("creator")) or _login(deployment.get("creator")) or common["sender"],
        "description": text(status.get("description") or deployment.get("description")),
        "target_url": text(status.get("target_url") or status.get("environment_url"), 1000),
        "created_at": iso(parse_datetime(deployment.get("created_at"))),
        "updated_at": iso(effective_at),
    }
    what = f"{state}" if state else "requested"
    title = f"GitHub deployment of {common['repository'] or 'unknown repository'} to {environment}: {what}"
    return EvidenceFacts(
        kind="deployment",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


def _release(doc: dict, event: str) -> EvidenceFacts:
    release = obj(doc.get("release"), "release", LABEL, required=True)
    common = _common(doc, event)
    tag = text(release.get("tag_name"), 300)
    subjects, edges = [], []
    rel_subject = None
    if common["repository_url"] and tag:
        try:
            rel_subject = release_subject(common["repository_url"], tag)
            subjects.append(rel_subject)
        except ParseError:
            rel_subject = None
    commit = _commit(common["repository_url"], release.get("target_commitish"))
    if commit:
        subjects.append(commit)
        if rel_subject:
            edges.append(Edge(source=commit, target=rel_subject, relation="released-from"))
    # The images the release notes name by digest: image -released-from-> release (issue 20, hole 3).
    images = images_in_text(release.get("body")) if rel_subject else []
    subjects += images
    edges += [Edge(source=image, target=rel_subject, relation="released-from") for image in images]
    assets = release.get("assets") if isinstance(release.get("assets"), list) else []
    effective_at = parse_datetime(release.get("published_at")) or parse_datetime(release.get("created_at"))
    summary = {
        **common,
        "tag": tag,
        "name": text(release.get("name"), 300),
        "target_commitish": text(release.get("target_commitish"), 300),
        "draft": release.get("draft") is True,
        "prerelease": release.get("prerelease") is True,
        "author": _login(release.get("author")),
        "assets_total": len(assets),
        "assets": [text(a.get("name"), 300) for a in assets if isinstance(a, dict)][:MAX_LIST],
        "html_url": text(release.get("html_url"), 1000),
        "images": [image.uri for image in images],
        "published_at": iso(effective_at),
    }
    repo_name = common["repository"] or "unknown repository"
    title = f"GitHub release {tag or '(no tag)'} of {repo_name}: {common['action'] or 'event'}"
    return EvidenceFacts(
        kind="release",
        title=title,
        verdict="info",
        verdict_reason=f"release {common['action'] or 'event'}",
        effective_at=effective_at,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


def _push(doc: dict, event: str) -> EvidenceFacts:
    common = _common(doc, event)
    after = doc.get("after")
    commit = _commit(common["repository_url"], after)
    commits = doc.get("commits") if isinstance(doc.get("commits"), list) else []
    head = doc.get("head_commit") if isinstance(doc.get("head_commit"), dict) else {}
    repo = doc.get("repository") if isinstance(doc.get("repository"), dict) else {}
    pusher = doc.get("pusher") if isinstance(doc.get("pusher"), dict) else {}
    ref = text(doc.get("ref"), 300)
    deleted = doc.get("deleted") is True
    effective_at = parse_datetime(head.get("timestamp")) or parse_datetime(repo.get("pushed_at"))
    summary = {
        **common,
        "ref": ref,
        "before": text(doc.get("before"), 64),
        "after": text(after, 64),
        "created": doc.get("created") is True,
        "deleted": deleted,
        "forced": doc.get("forced") is True,
        "pusher": text(pusher.get("name"), 200) or common["sender"],
        "compare_url": text(doc.get("compare"), 1000),
        "commits_total": len(commits),
        "commits": [
            {
                "id": text(c.get("id"), 64),
                "message": text(str(c.get("message") or "").split("\n", 1)[0], 200),
                "author": text((c.get("author") or {}).get("name") if isinstance(c.get("author"), dict) else "", 200),
            }
            for c in commits[:MAX_LIST]
            if isinstance(c, dict)
        ],
        "pushed_at": iso(effective_at),
    }
    what = "deleted" if deleted else ("force-pushed" if summary["forced"] else "pushed")
    title = f"GitHub push to {ref or 'unknown ref'} of {common['repository'] or 'unknown repository'}: {what}"
    return EvidenceFacts(
        kind="push",
        title=title,
        verdict="info",
        verdict_reason=f"{ref or 'ref'} {what}",
        effective_at=effective_at,
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _package_subjects(package: dict, version: dict, owner: str) -> list[Subject]:
    ptype = text(package.get("package_type"), 50).lower()
    ecosystem = text(package.get("ecosystem"), 50).lower()
    name = text(package.get("name"), 300)
    version_name = text(version.get("version") or version.get("name"), 300)
    subjects = []
    try:
        if (
            ptype == "container"
            or ecosystem == "container"
            or (version_name.startswith("sha256:") and len(version_name) == 71)
        ):
            package_url = text(version.get("package_url"), 500).rstrip(":")
            ref = package_url or f"ghcr.io/{text(package.get('namespace'), 300)}"
            subjects.append(image_subject(ref, version_name))
        elif ptype == "npm" and version_name:
            npm_name = ""
            manifest = version.get("manifest")
            if isinstance(manifest, str) and manifest.startswith("{"):
                try:
                    parsed = json.loads(manifest)
                    npm_name = (
                        parsed.get("name", "")
                        if isinstance(parsed, dict) and isinstance(parsed.get("name"), str)
                        else ""
                    )
                except (ValueError, RecursionError):
                    npm_name = ""
            npm_name = npm_name or (f"@{owner}/{name}" if owner else name)
            subjects.append(purl_subject(f"pkg:npm/{npm_name.replace('@', '%40', 1)}@{version_name}"))
        elif name and version_name:
            purl_type = {"rubygems": "gem", "nuget": "nuget", "maven": "maven"}.get(ptype, "generic")
            subjects.append(purl_subject(f"pkg:{purl_type}/{name}@{version_name}"))
    except ParseError:
        pass
    return subjects


def _package(doc: dict, event: str) -> EvidenceFacts:
    key = "registry_package" if event == "registry_package" else "package"
    package = obj(doc.get(key), key, LABEL, required=True)
    version = obj(package.get("package_version"), f"{key}.package_version", LABEL)
    common = _common(doc, event)
    owner = _login(package.get("owner")).lower()
    subjects = _package_subjects(package, version, owner)
    edges = []
    target_oid = version.get("target_oid")
    # Container versions put the image digest in target_oid; only a 40-digit id is a commit.
    commit = (
        _commit(common["repository_url"], target_oid) if isinstance(target_oid, str) and len(target_oid) == 40 else None
    )
    if commit:
        edges += [Edge(source=commit, target=s, relation="built-from") for s in subjects]
        subjects.append(commit)
    files = version.get("package_files") if isinstance(version.get("package_files"), list) else []
    effective_at = (
        parse_datetime(version.get("updated_at"))
        or parse_datetime(version.get("created_at"))
        or parse_datetime(package.get("updated_at"))
    )
    name = text(package.get("name"), 300)
    version_name = text(version.get("version") or version.get("name"), 300)
    summary = {
        **common,
        "package": name,
        "namespace": text(package.get("namespace"), 300),
        "package_type": text(package.get("package_type"), 50),
        "ecosystem": text(package.get("ecosystem"), 50),
        "version": version_name,
        "target_commitish": text(version.get("target_commitish"), 300),
        "target_oid": text(version.get("target_oid"), 64),
        "files": [
            {
                "name": text(f.get("name"), 300),
                "sha256": text(f.get("sha256"), 64),
                "size": f.get("size") if isinstance(f.get("size"), int) else None,
            }
            for f in files[:MAX_LIST]
            if isinstance(f, dict)
        ],
        "html_url": text(version.get("html_url") or package.get("html_url"), 1000),
        "published_at": iso(effective_at),
    }
    title = f"GitHub package {name or '(unnamed)'} {version_name[:19]} {common['action'] or 'event'}"
    return EvidenceFacts(
        kind="package",
        title=title,
        verdict="info",
        verdict_reason=f"package {common['action'] or 'event'}",
        effective_at=effective_at,
        subjects=subjects,
        summary=summary,
        edges=edges,
    )


def _ping(doc: dict, event: str) -> EvidenceFacts:
    common = _common(doc, event)
    hook = doc.get("hook") if isinstance(doc.get("hook"), dict) else {}
    events = hook.get("events") if isinstance(hook.get("events"), list) else []
    summary = {
        **common,
        "zen": text(doc.get("zen"), 300),
        "hook_id": doc.get("hook_id") if isinstance(doc.get("hook_id"), int) else None,
        "hook_events": [text(e, 100) for e in events][:MAX_LIST],
    }
    target = common["repository"] or text(
        ((doc.get("organization") or {}) if isinstance(doc.get("organization"), dict) else {}).get("login"), 200
    )
    return EvidenceFacts(
        kind="ping",
        title=f"GitHub webhook ping for {target or 'this hook'}",
        verdict="info",
        verdict_reason="webhook connectivity check",
        effective_at=parse_datetime(hook.get("updated_at")),
        subjects=[],
        summary=summary,
    )


# A commit status (the Statuses API, written by Jenkins, Travis, external CI...): error is
# the status API's word for a check that could not complete, so it fails like failure.
STATUS_VERDICTS = {"success": "pass", "failure": "fail", "error": "fail", "pending": "info"}


def _status(doc: dict, event: str) -> EvidenceFacts:
    common = _common(doc, event)
    state = text(doc.get("state"), 20)
    if state not in STATUS_VERDICTS:
        raise ParseError(f"{LABEL} status: state {state!r} is not one of {', '.join(STATUS_VERDICTS)}")
    context = text(doc.get("context"), 200) or "default"
    commit = _commit(common["repository_url"], doc.get("sha"))
    branches = doc.get("branches") if isinstance(doc.get("branches"), list) else []
    summary = {
        **common,
        "context": context,
        "state": state,
        "description": text(doc.get("description"), 300),
        "target_url": text(doc.get("target_url"), 1000),
        "sha": text(doc.get("sha"), 64),
        "branches": [text(b.get("name"), 300) for b in branches if isinstance(b, dict)][:MAX_LIST],
        "actor": common["sender"],
        "updated_at": iso(parse_datetime(doc.get("updated_at"))),
    }
    verdict = STATUS_VERDICTS[state]
    reason = f"commit status '{context}' is {state}" + (
        "" if verdict != "info" else ", which is neither a pass nor a failure yet"
    )
    return EvidenceFacts(
        kind="commit-status",
        title=f"GitHub status '{context}' on {common['repository'] or 'unknown repository'}: {state}",
        verdict=verdict,
        verdict_reason=reason,
        effective_at=parse_datetime(doc.get("updated_at")) or parse_datetime(doc.get("created_at")),
        subjects=[commit] if commit else [],
        summary=summary,
    )


def _generic(doc: dict, event: str) -> EvidenceFacts:
    common = _common(doc, event)
    title = f"GitHub {event or 'unknown'} event" + (f" ({common['action']})" if common["action"] else "")
    if common["repository"]:
        title += f" on {common['repository']}"
    return EvidenceFacts(
        kind="generic",
        title=title,
        verdict="info",
        verdict_reason=f"{event or 'unknown'} events are recorded as they are",
        effective_at=None,
        subjects=[],
        summary={**common, "keys": sorted(text(k, 100) for k in doc)[:MAX_LIST]},
    )


HANDLERS = {
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "deployment": _deployment,
    "deployment_status": _deployment,
    "release": _release,
    "push": _push,
    "package": _package,
    "registry_package": _package,
    "ping": _ping,
    "status": _status,
}


@guard(LABEL)
def parse_github(event: str, body: bytes) -> ParseResult:
    """One evidence item for a GitHub webhook delivery; unknown events become generic evidence."""
    event = (event or "").strip().lower() if isinstance(event, str) else ""
    doc = load_json_object(body, f"{LABEL} {event or 'webhook'}")
    handler = HANDLERS.get(event, _generic)
    return ParseResult(format="github", evidence=[handler(doc, event)])
