"""Issue 20, hole 1: "what in production uses package P?" answered from SBOMs as the parsers read them.

An SBOM uploaded about an image (cyclonedx-py's real output, SPDX from sbom4python) gives every
listed package a `contains` edge into the SBOM's subject; a registry tag move deploys that image to
production; impact by purl, by package name across versions and by version range finds it.
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from apps.evidence.lineage import LineageQueryError, impact_roots, purl_version_matches
from apps.evidence.models import Artifact, LineageEdge
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from tests.ingest.conftest import fixture_bytes

pytestmark = pytest.mark.django_db

REGISTRY, REPOSITORY = "registry.test:5000", "demo/app"
PROD_DIGEST = "sha256:" + "ab" * 32
STAGING_DIGEST = "sha256:" + "cd" * 32


def _parse(source, channel: str, body: bytes, **fields):
    receipt, _ = receipt_accept(source=source, channel=channel, body=body, enqueue=False, **fields)
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed", receipt.error
    return receipt


def _tag_move(source, tag: str, digest: str) -> None:
    doc = {"document": "oci.tag-move/v1", "registry": REGISTRY, "repository": REPOSITORY, "tag": tag,
           "previous_digest": None, "digest": digest, "observed_at": timezone.now().isoformat()}  # fmt: skip
    _parse(source, "oci", json.dumps(doc).encode(), event="sync.tag_move")


@pytest.fixture
def deployed_images(db):
    """The prod tag on one image, the staging tag on another (real tag-move documents, parsed)."""
    registry = source_create(actor="system:test", kind="oci", name="registry")
    _tag_move(registry.source, "prod", PROD_DIGEST)
    _tag_move(registry.source, "staging", STAGING_DIGEST)
    return registry


def _upload_sbom(fixture: str, digest: str, name: str | None = None):
    ci = source_create(actor="system:test", kind="generic-ci", name=f"ci {fixture} {digest[7:12]}")
    _parse(ci.source, "upload", fixture_bytes(fixture), filename=name or fixture,
           subject=f"oci://{REGISTRY}/{REPOSITORY}@{digest}")  # fmt: skip


def _impact(client, admin_user, **params):
    client.force_login(admin_user)
    answer = client.get("/api/v1/lineage/impact", params)
    assert answer.status_code == 200, answer.content
    return answer.json()


def _environments(answer) -> set[str]:
    return {d["deployment"]["uri"].split("/")[-2] for d in answer["deployments"]}


def test_the_production_image_whose_sbom_lists_requests_is_found_by_purl(client, admin_user, deployed_images):
    _upload_sbom("cyclonedx_py_env.cdx.json", PROD_DIGEST)
    answer = _impact(client, admin_user, purl="pkg:pypi/requests", all="true")
    assert _environments(answer) == {"prod"}
    # Only production by default: the same answer without all=true.
    assert _environments(_impact(client, admin_user, purl="pkg:pypi/requests")) == {"prod"}
    image = Artifact.objects.get(uri=f"oci://{REGISTRY}/{REPOSITORY}@{PROD_DIGEST}")
    requests = Artifact.objects.get(uri="pkg:pypi/requests@2.32.3", kind="package")
    assert LineageEdge.objects.filter(source=requests, target=image, relation="contains").exists()


@pytest.mark.parametrize(
    "fixture",
    [
        "cyclonedx_py_env.cdx.xml",
        "cyclonedx_py_env_1.4.cdx.json",
        "sbom4python_requests.spdx.json",
        "sbom4python_requests.spdx",
    ],  # fmt: skip
)
def test_every_sbom_form_the_parsers_read_links_its_packages_to_its_subject(client, admin_user, deployed_images,
                                                                            fixture):  # fmt: skip
    _upload_sbom(fixture, PROD_DIGEST)
    answer = _impact(client, admin_user, purl="pkg:pypi/requests@2.32.3")
    assert _environments(answer) == {"prod"}


def test_an_sbom_without_an_uploaded_subject_links_its_packages_to_its_main_component(db):
    ci = source_create(actor="system:test", kind="generic-ci", name="ci no subject")
    _parse(ci.source, "upload", fixture_bytes("cyclonedx_py_env.cdx.json"), filename="bom.cdx.json")
    main = Artifact.objects.get(uri="pkg:generic/evidence-demo@0.1.0")
    parts = set(LineageEdge.objects.filter(target=main, relation="contains").values_list("source__uri", flat=True))
    assert "pkg:pypi/requests@2.32.3" in parts
    assert "pkg:pypi/urllib3@2.8.0" in parts


def test_impact_by_name_covers_every_version_and_a_range_only_the_affected_ones(client, admin_user, deployed_images):
    _upload_sbom("cyclonedx_py_env.cdx.json", PROD_DIGEST)  # requests 2.32.3 in prod
    # The older build: requests 2.31.0 in release 0.0.9 of the application.
    staging_sbom = fixture_bytes("cyclonedx_py_env.cdx.json").replace(b"2.32.3", b"2.31.0")
    staging_sbom = staging_sbom.replace(b'"version": "0.1.0"', b'"version": "0.0.9"')
    ci = source_create(actor="system:test", kind="generic-ci", name="ci staging")
    _parse(ci.source, "upload", staging_sbom, filename="old.cdx.json",
           subject=f"oci://{REGISTRY}/{REPOSITORY}@{STAGING_DIGEST}")  # fmt: skip
    assert _environments(_impact(client, admin_user, purl="pkg:pypi/requests", all="true")) == {"prod", "staging"}
    affected = _impact(client, admin_user, purl="pkg:pypi/requests@<2.32.0", all="true")
    assert _environments(affected) == {"staging"}
    assert [Artifact.objects.get(pk=r).uri for r in affected["roots"]] == ["pkg:pypi/requests@2.31.0"]
    assert _environments(_impact(client, admin_user, purl="pkg:pypi/requests@>=2.32.0,<2.33", all="true")) == {"prod"}
    assert _impact(client, admin_user, purl="pkg:pypi/requests@<2.0", all="true")["deployments"] == []


def test_a_range_that_is_not_a_version_range_is_refused(client, admin_user):
    client.force_login(admin_user)
    answer = client.get("/api/v1/lineage/impact", {"purl": "pkg:pypi/requests@<not a version"})
    assert answer.status_code == 400
    assert "range" in json.dumps(answer.json())
    with pytest.raises(LineageQueryError):
        impact_roots(purl="pkg:npm/left-pad@>=1.0,<<2")


def test_version_ranges_use_pep_440_for_pypi_and_a_segment_order_for_others():
    # PEP 440: a pre-release is in a range that spans it, 2.0 < 2.0.post1, and 1.10 > 1.9.
    assert purl_version_matches("pypi", "2.0rc1", ">=1.9,<2.1")
    assert not purl_version_matches("pypi", "2.0.post1", "<=2.0")
    assert purl_version_matches("pypi", "1.10", ">1.9")
    assert purl_version_matches("pypi", "2.32.3", "~=2.32.0")
    # Other ecosystems: numeric segments compare as numbers, a pre-release tag sorts before the release.
    assert purl_version_matches("npm", "1.10.0", ">1.9.9")
    assert purl_version_matches("npm", "2.0.0-beta.1", "<2.0.0")
    assert purl_version_matches("maven", "2.17.0", ">=2.0,<2.17.1")
    assert not purl_version_matches("maven", "2.17.1", ">=2.0,<2.17.1")
    assert purl_version_matches("golang", "v1.2.3", "==1.2.3")
