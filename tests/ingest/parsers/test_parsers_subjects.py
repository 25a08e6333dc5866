"""Identity normalization: the same artifact must get the same uri wherever it is seen."""

from pathlib import Path

import pytest

from apps.formats import ParseError, normalize_subject, parse_intoto, parse_webhook
from apps.formats.subjects import commit_subject, image_subject, purl_subject

DATA = Path(__file__).parent / "data"
SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
COMMIT_URI = f"git+https://github.com/octo-org/octo-repo@{SHA}"


@pytest.mark.parametrize(
    "text",
    [
        f"git+https://github.com/octo-org/octo-repo@{SHA}",
        f"https://github.com/octo-org/octo-repo@{SHA}",
        f"git+https://GitHub.com/Octo-Org/octo-repo.git@{SHA.upper()}",
        f"  https://github.com/octo-org/octo-repo/@{SHA}  ",
    ],
)
def test_commit_spellings_normalize_to_one_uri(text):
    subject = normalize_subject(text)
    assert subject.kind == "commit"
    assert subject.uri == COMMIT_URI
    assert subject.digest == f"sha1:{SHA}"


def test_commit_subject_accepts_clone_urls_of_every_kind():
    for url in (
        "git@github.com:octo-org/octo-repo.git",
        "ssh://git@github.com/octo-org/octo-repo",
        "https://github.com/octo-org/octo-repo",
    ):
        assert commit_subject(url, SHA).uri == COMMIT_URI


def test_same_commit_from_github_run_junit_upload_and_provenance_is_identical():
    run = parse_webhook("github", "workflow_run", (DATA / "github/workflow_run.completed.json").read_bytes())
    provenance = parse_intoto((DATA / "dsse_slsa_v02_unsigned.intoto.json").read_bytes())
    provenance_v1 = parse_intoto((DATA / "intoto_statement_slsa_v1.json").read_bytes())
    # what an uploader would type next to a JUnit report
    uploaded = normalize_subject(f"git+https://github.com/Octo-Org/octo-repo.git@{SHA}")

    run_commit = run.evidence[0].subjects[0]
    material = provenance.evidence[0].edges[0].source
    material_v1 = provenance_v1.evidence[0].edges[0].source
    assert run_commit.uri == material.uri == material_v1.uri == uploaded.uri == COMMIT_URI
    assert run_commit == material == uploaded


def test_image_references_normalize():
    digest = "sha256:" + "A" * 64
    assert normalize_subject(f"ghcr.io/Org/App:1.2@{digest}").uri == "oci://ghcr.io/org/app@sha256:" + "a" * 64
    assert normalize_subject(f"oci://ghcr.io/org/app@{digest}").uri == "oci://ghcr.io/org/app@sha256:" + "a" * 64
    assert image_subject("python:3.11", digest).uri == "oci://docker.io/library/python@sha256:" + "a" * 64
    assert image_subject("localhost:5000/team/app", digest).uri == "oci://localhost:5000/team/app@sha256:" + "a" * 64


def test_purls_follow_type_case_rules():
    assert purl_subject("pkg:PyPI/Django_REST.framework@3.15").uri == "pkg:pypi/django-rest-framework@3.15"
    assert purl_subject("pkg:npm/%40Angular/Core@17.0.0").uri == "pkg:npm/%40angular/core@17.0.0"
    assert (
        purl_subject("pkg:maven/org.Apache/Commons@1.0?type=jar&classifier=").uri
        == "pkg:maven/org.Apache/Commons@1.0?type=jar"
    )
    assert purl_subject("pkg:deb/debian/curl@7.50.3-1?distro=jessie&arch=i386").uri == (
        "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie"
    )


def test_other_identities():
    assert normalize_subject("mlflow://fraud-detector/7").uri == "mlflow://fraud-detector/7"
    assert normalize_subject("mlflow://fraud-detector/7").kind == "model-version"
    dataset = normalize_subject("dataset:sha256:" + "B" * 64)
    assert (dataset.kind, dataset.uri) == ("dataset", "dataset:sha256:" + "b" * 64)
    assert normalize_subject("  payments service  ").uri == "payments service"
    assert normalize_subject("  payments service  ").kind == "other"


@pytest.mark.parametrize("text", ["", "   ", "x" * 2049, "abc\x00def", "line\nbreak", "tab\there"])
def test_unusable_identities_are_refused(text):
    with pytest.raises(ParseError):
        normalize_subject(text)


@pytest.mark.parametrize("text", ["dataset:sha256:1234", "mlflow://only-model", "pkg:", "pkg:/name"])
def test_malformed_structured_identities_are_refused(text):
    with pytest.raises(ParseError):
        normalize_subject(text)


def test_dvc_md5_identities_can_be_typed_back_in():
    from apps.formats.subjects import normalize_subject

    data = normalize_subject("dataset:MD5:" + "AB" * 16 + ".dir")
    assert (data.kind, data.uri, data.digest) == ("dataset", "dataset:md5:" + "ab" * 16 + ".dir", "md5:" + "ab" * 16)
    model = normalize_subject("file:md5:" + "cd" * 16)
    assert model.kind == "file" and model.uri.endswith("cd" * 16)


# ---------------------------------------------------------------- issue 20, hole 4: every source's commit spelling

FULL = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
ONE_COMMIT = f"git+https://github.com/octo-org/fraud-model@{FULL}"


@pytest.mark.parametrize(
    ("repo", "revision"),
    [
        ("https://github.com/octo-org/fraud-model", FULL),
        ("git@github.com:Octo-Org/fraud-model.git", FULL.upper()),
        ("ssh://git@GitHub.com:22/octo-org/fraud-model.git", FULL),
        ("https://GITHUB.com/octo-org/fraud-model/", f"sha1:{FULL}"),
        (f"https://github.com/octo-org/fraud-model/blob/{FULL}/train.py", FULL),
        ("https://github.com/octo-org/fraud-model/tree/main", FULL),
    ],
)
def test_source_commit_gives_one_identity_for_every_spelling(repo, revision):
    from apps.formats.subjects import source_commit

    assert source_commit(repo, revision).uri == ONE_COMMIT


def test_source_commit_keeps_an_abbreviated_sha_and_refuses_what_is_no_commit():
    from apps.formats.subjects import short_commit_parts, source_commit

    short = source_commit("git@github.com:octo-org/fraud-model.git", FULL[:7])
    assert (short.kind, short.uri, short.digest) == ("commit", ONE_COMMIT[: -len(FULL) + 7], "")
    assert short_commit_parts(short.uri) == ("git+https://github.com/octo-org/fraud-model@", FULL[:7])
    assert short_commit_parts(ONE_COMMIT) is None
    for repo, revision in [("https://github.com/o/r", "main"), ("https://github.com/o/r", "abc12"),
                           ("train.py", FULL), (None, FULL), ("https://github.com/o/r", "0" * 40)]:  # fmt: skip
        assert source_commit(repo, revision) is None


def test_tags_labels_and_source_code_facets_name_the_same_commit():
    from apps.formats.subjects import commit_from_labels, commit_from_source_code_location, commit_from_tags

    assert commit_from_tags({"mlflow.source.git.commit": FULL,
                             "mlflow.source.git.repoURL": "https://github.com/octo-org/fraud-model"}).uri == ONE_COMMIT
    assert commit_from_tags({"GIT_SHA": FULL, "git_repo": "git@github.com:octo-org/fraud-model"}).uri == ONE_COMMIT
    assert commit_from_tags({"git_sha": FULL}) is None  # no repository: not a commit identity
    assert commit_from_labels({"org.label-schema.vcs-url": "https://github.com/octo-org/fraud-model.git",
                               "org.label-schema.vcs-ref": FULL}).uri == ONE_COMMIT
    assert commit_from_source_code_location({"type": "git", "url": "https://x.invalid/no-repo",
                                             "repoUrl": "git@github.com:octo-org/fraud-model.git",
                                             "version": FULL}).uri == ONE_COMMIT
