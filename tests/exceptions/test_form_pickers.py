"""Issue 21, item 4: the exception form offers searchable pickers (an <input list> with a <datalist>) for
the control and the artifact instead of typed ids; the artifacts are only those of systems the user may
request an exception for."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.evidence.models import Artifact, ArtifactKind
from apps.inventory.models import System
from tests.exceptions.conftest import CONTROL

pytestmark = pytest.mark.django_db


def _datalist(body: str, list_id: str) -> str:
    match = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', body, re.S)
    assert match, f"no datalist {list_id}"
    return match.group(1)


def test_the_request_form_offers_controls_and_only_the_artifacts_of_requestable_systems(client, owners, system):
    other = System.objects.get(slug="other")
    mine = Artifact.objects.create(kind=ArtifactKind.IMAGE, uri="oci://reg/credit@sha256:" + "a" * 64,
                                   system=system, first_seen=timezone.now())  # fmt: skip
    theirs = Artifact.objects.create(kind=ArtifactKind.IMAGE, uri="oci://reg/other@sha256:" + "b" * 64,
                                     system=other, first_seen=timezone.now())  # fmt: skip
    client.force_login(owners["engineer"])  # an engineering owner of "credit" only
    body = client.get("/exceptions/new/").content.decode()
    assert re.search(r'<input[^>]*name="control"[^>]*list="control-options"', body)
    assert f'<option value="{CONTROL}">' in _datalist(body, "control-options")
    assert re.search(r'<input[^>]*name="artifact"[^>]*list="artifact-options"', body)
    artifacts = _datalist(body, "artifact-options")
    assert f'<option value="{mine.pk}">' in artifacts and mine.uri in artifacts
    assert f'value="{theirs.pk}"' not in artifacts and theirs.uri not in body
