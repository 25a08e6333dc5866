"""GitHub and GitLab webhook payloads shaped like the documented examples (see data/README.md)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.formats import ParseError, parse_webhook

DATA = Path(__file__).parent / "data"


def github(event: str, name: str):
    result = parse_webhook("github", event, (DATA / "github" / name).read_bytes())
    assert result.format == "github" and len(result.evidence) == 1
    json.dumps(result.evidence[0].summary, allow_nan=False)
    return result.evidence[0]


def gitlab(event: str, name: str):
    result = parse_webhook("gitlab", event, (DATA / "gitlab" / name).read_bytes())
    assert result.format == "gitlab" and len(result.evidence) == 1
    json.dumps(result.evidence[0].summary, allow_nan=False)
    return result.evidence[0]


# --- GitHub -------------------------------------------------------------------------


def test_github_workflow_run_success_passes_with_the_head_commit():
    evidence = github("workflow_run", "workflow_run.completed.json")
    assert (evidence.kind, evidence.verdict) == ("pipeline-run", "pass")
    assert (
        evidence.subjects[0].uri == "git+https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625"
    )
    s = evidence.summary
    assert (s["workflow"], s["run_number"], s["branch"], s["actor"], s["trigger"]) == (
        "test",
        163,
        "master",
        "Codertocat",
        "repository_dispatch",
    )
    assert s["html_url"] == "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    assert evidence.effective_at == datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC)


def test_github_failed_job_names_the_failed_step():
    evidence = github("workflow_job", "workflow_job.completed.failure.json")
    assert (evidence.kind, evidence.verdict) == ("job", "fail")
    assert evidence.verdict_reason == "job concluded failure (failed step: Run yarn run format-check)"
    assert evidence.summary["runner"] == "GitHub Actions 5"
    assert evidence.effective_at == datetime(2021, 8, 5, 10, 38, 16, tzinfo=UTC)


def test_github_check_run_and_suite():
    run = github("check_run", "check_run.completed.json")
    assert (run.kind, run.verdict, run.summary["check"], run.summary["branch"]) == (
        "check-run",
        "pass",
        "Octocoders-linter",
        "changes",
    )
    assert (
        run.subjects[0].uri == "git+https://github.com/codertocat/hello-world@ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    )
    suite = github("check_suite", "check_suite.completed.json")
    assert (suite.kind, suite.verdict, suite.summary["app"]) == ("check-suite", "pass", "octocoders-linter")
    assert suite.subjects == run.subjects


def test_github_deployment_status_links_commit_to_deployment():
    evidence = github("deployment_status", "deployment_status.created.json")
    assert (evidence.kind, evidence.verdict, evidence.summary["environment"]) == ("deployment", "pass", "production")
    commit, deployment = evidence.subjects
    assert deployment.uri == "deployment:https://github.com/codertocat/hello-world/production/145988746"
    assert evidence.edges[0].source == commit and evidence.edges[0].target == deployment
    assert evidence.edges[0].relation == "deployed-from"
    requested = github("deployment", "deployment.created.json")
    assert (requested.verdict, requested.verdict_reason) == ("info", "deployment to production was requested")


@pytest.mark.parametrize(
    ("state", "verdict"), [("failure", "fail"), ("error", "fail"), ("success", "pass"), ("in_progress", "info")]
)
def test_github_deployment_states(state, verdict):
    doc = json.loads((DATA / "github/deployment_status.created.json").read_bytes())
    doc["deployment_status"]["state"] = state
    assert parse_webhook("github", "deployment_status", json.dumps(doc).encode()).evidence[0].verdict == verdict


@pytest.mark.parametrize(
    ("conclusion", "verdict"),
    [
        ("failure", "fail"),
        ("timed_out", "fail"),
        ("startup_failure", "fail"),
        ("success", "pass"),
        ("cancelled", "info"),
        ("skipped", "info"),
        ("neutral", "info"),
        (None, "info"),
    ],
)
def test_github_conclusions_map_to_verdicts(conclusion, verdict):
    doc = json.loads((DATA / "github/workflow_run.completed.json").read_bytes())
    doc["workflow_run"]["conclusion"] = conclusion
    assert parse_webhook("github", "workflow_run", json.dumps(doc).encode()).evidence[0].verdict == verdict


def test_github_release_push_package_and_ping():
    release = github("release", "release.published.json")
    assert release.subjects[0].uri == "release:https://github.com/codertocat/hello-world@0.0.1"
    assert release.effective_at == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)
    push = github("push", "push.tag_deleted.json")
    assert (push.kind, push.subjects, push.summary["deleted"]) == ("push", [], True)  # after is all zeros
    npm = github("package", "package.published.npm.json")
    assert npm.subjects[0].uri == "pkg:npm/%40codertocat/hello-world-npm@1.0.0"
    assert (
        npm.edges[0].source.uri
        == "git+https://github.com/codertocat/hello-world-npm@6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b"
    )
    container = github("registry_package", "registry_package.published.docker.json")
    assert [s.uri for s in container.subjects] == [
        "oci://ghcr.io/codertocat/hello-world@sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"
    ]
    ping = github("ping", "ping.json")
    assert (ping.kind, ping.verdict, ping.summary["zen"]) == ("ping", "info", "Anything added dilutes everything else.")


def test_unknown_github_events_become_generic_evidence():
    evidence = parse_webhook("github", "star", b'{"action": "created", "repository": {"full_name": "a/b"}}').evidence[0]
    assert (evidence.kind, evidence.verdict, evidence.title) == (
        "generic",
        "info",
        "GitHub star event (created) on a/b",
    )


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"text"', b"{", b'{"a": NaN}'])
def test_malformed_github_bodies_are_parse_errors(body):
    with pytest.raises(ParseError, match="GitHub"):
        parse_webhook("github", "workflow_run", body)


def test_known_github_event_without_its_object_says_what_is_missing():
    with pytest.raises(ParseError, match="workflow_run is missing"):
        parse_webhook("github", "workflow_run", b'{"action": "completed"}')


def test_unknown_provider_is_refused():
    with pytest.raises(ParseError, match="unknown provider"):
        parse_webhook("bitbucket", "push", b"{}")


# --- GitLab -------------------------------------------------------------------------


def test_gitlab_pipeline_hook():
    evidence = gitlab("Pipeline Hook", "pipeline_hook.json")
    assert (evidence.kind, evidence.verdict) == ("pipeline-run", "pass")
    assert (
        evidence.subjects[0].uri
        == "git+http://192.168.64.1:3005/gitlab-org/gitlab-test@bcbb5ec396a2c0f828686f14fac9b80b780504f2"
    )
    assert evidence.summary["failed_jobs"] == ["test-build"]
    assert evidence.summary["user"] == "root"
    assert evidence.effective_at == datetime(2016, 8, 12, 15, 26, 29, tzinfo=UTC)


def test_gitlab_failed_pipeline_fails_and_names_jobs():
    doc = json.loads((DATA / "gitlab/pipeline_hook.json").read_bytes())
    doc["object_attributes"]["status"] = "failed"
    evidence = parse_webhook("gitlab", "Pipeline Hook", json.dumps(doc).encode()).evidence[0]
    assert evidence.verdict == "fail"
    assert evidence.verdict_reason == "pipeline failed (1 failed job: test-build)"


def test_gitlab_job_hook_and_allowed_failures():
    evidence = gitlab("Job Hook", "job_hook.json")
    assert (evidence.kind, evidence.verdict, evidence.summary["job"]) == ("job", "info", "test")
    assert (
        evidence.subjects[0].uri
        == "git+http://192.168.64.1:3005/gitlab-org/gitlab-test@2293ada6b400935a1378653304eaf6221e0fdb8f"
    )
    doc = json.loads((DATA / "gitlab/job_hook.json").read_bytes())
    doc.update(build_status="failed", build_allow_failure=True)
    assert parse_webhook("gitlab", "Job Hook", json.dumps(doc).encode()).evidence[0].verdict == "info"
    doc["build_allow_failure"] = False
    failed = parse_webhook("gitlab", "Job Hook", json.dumps(doc).encode()).evidence[0]
    assert (failed.verdict, failed.verdict_reason) == ("fail", "job failed (script_failure)")


def test_gitlab_deployment_takes_the_commit_from_its_url():
    evidence = gitlab("Deployment Hook", "deployment_hook.json")
    assert (evidence.kind, evidence.verdict) == ("deployment", "pass")
    commit, deployment = evidence.subjects
    assert (
        commit.uri
        == "git+http://10.126.0.2:3000/root/test-deployment-webhooks@279484c09fbe69ededfced8c1bb6e6d24616b468"
    )
    assert deployment.uri == "deployment:http://10.126.0.2:3000/root/test-deployment-webhooks/staging/15"
    assert evidence.effective_at == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)


def test_gitlab_release_and_push_hooks():
    release = gitlab("Release Hook", "release_hook.json")
    assert release.subjects[0].uri == "release:https://example.com/gitlab-org/release-webhook-example@v1.1"
    assert release.edges[0].relation == "released-from"
    push = gitlab("Push Hook", "push_hook.json")
    assert push.subjects[0].uri == "git+http://example.com/mike/diaspora@da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert push.summary["commits_total"] == 4
    assert push.effective_at == datetime(2012, 1, 3, 21, 36, 29, tzinfo=UTC)


def test_gitlab_event_is_taken_from_object_kind_when_the_header_is_missing():
    assert (
        parse_webhook("gitlab", "", (DATA / "gitlab/pipeline_hook.json").read_bytes()).evidence[0].kind
        == "pipeline-run"
    )


def test_gitlab_header_that_contradicts_object_kind_is_refused():
    with pytest.raises(ParseError, match="object_kind is 'pipeline'"):
        parse_webhook("gitlab", "Job Hook", (DATA / "gitlab/pipeline_hook.json").read_bytes())


def test_unknown_gitlab_hooks_become_generic_evidence():
    evidence = parse_webhook("gitlab", "Wiki Page Hook", b'{"object_kind": "wiki_page"}').evidence[0]
    assert (evidence.kind, evidence.verdict) == ("generic", "info")
