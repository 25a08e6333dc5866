"""Issue 23: a webhook for an unknown or disabled source is refused before its body is read, and
every refusal of a named source reads the same, so a 401 tells nobody which ids exist or their kind."""

import pytest

from apps.ingest.models import Receipt
from apps.ingest.services import source_disable
from tests.ingest.conftest import github_signature

pytestmark = pytest.mark.django_db
BODY = b'{"zen": "Keep it logically awesome."}'


class _UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def _deliver_unread(client, kind: str, source_id, headers: dict):
    # 20 MB announced, nothing readable: refusing must not need the body.
    return client.generic("POST", f"/api/v1/ingest/{kind}?source={source_id}", content_type="application/json",
                          headers=headers, **{"wsgi.input": _UnreadableBody(), "CONTENT_LENGTH": str(20 * 1024 * 1024)})


def _github_headers(secret: str) -> dict:
    return {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": github_signature(secret, BODY)}


def test_a_webhook_for_an_unknown_source_is_refused_before_its_body_is_read(client):
    response = _deliver_unread(client, "github", 999999, _github_headers("whatever"))
    assert response.status_code == 401


def test_a_webhook_for_a_disabled_source_is_refused_before_its_body_is_read(client, github, gitlab):
    source_disable(actor="system:test", source_id=github.source.pk)
    source_disable(actor="system:test", source_id=gitlab.source.pk)
    assert _deliver_unread(client, "github", github.source.pk, _github_headers(github.secret)).status_code == 401
    gitlab_headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": gitlab.secret}
    assert _deliver_unread(client, "gitlab", gitlab.source.pk, gitlab_headers).status_code == 401
    assert not Receipt.objects.exists()


def test_webhook_refusals_do_not_tell_whether_a_source_exists_or_its_kind(client, github, gitlab):
    def post(source_id, secret):
        return client.post(f"/api/v1/ingest/github?source={source_id}", data=BODY, content_type="application/json",
                           headers=_github_headers(secret))

    unknown = post(999999, "whatever")
    other_kind = post(gitlab.source.pk, gitlab.secret)  # a GitLab source named on the GitHub endpoint
    wrong_secret = post(github.source.pk, "not-the-secret")
    source_disable(actor="system:test", source_id=github.source.pk)
    disabled = post(github.source.pk, github.secret)
    answers = {(r.status_code, r.content, r.get("WWW-Authenticate")) for r in (unknown, other_kind, wrong_secret,
                                                                             disabled)}
    assert len(answers) == 1, answers
    status, content, _ = answers.pop()
    assert status == 401
    assert b"GitLab" not in content and str(gitlab.source.pk).encode() not in content
