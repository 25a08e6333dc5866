"""Issue 20, hole 4: one commit, one node. An MLflow run, the OCI image built from it and the OpenLineage
job that trained it, all from one commit, meet on one commit artifact whatever spelling each source used
(https, ssh, git@host:path, `.git`, upper-case host, a web link into the tree; short or long sha).

The documents are the recorded ones in devtools/demo/data (a real `mlflow server` and docker-registry,
tests/ingest/parsers/data/sources/record_connectors.py.txt) with the commit spelled as other tools spell it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.evidence.models import Artifact, LineageEdge
from apps.ingest.services import receipt_accept, receipt_parse, source_create

pytestmark = pytest.mark.django_db

RECORDED = Path(__file__).resolve().parents[2] / "devtools" / "demo" / "data"
SHA = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
COMMIT_URI = f"git+https://github.com/octo-org/fraud-model@{SHA}"


def _parse(channel: str, event: str, doc: dict):
    creds = source_create(actor="system:test", kind=channel, name=f"{channel} {event} {id(doc)}")
    receipt, _ = receipt_accept(source=creds.source, channel=channel, body=json.dumps(doc).encode(), event=event,
                                enqueue=False)  # fmt: skip
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed", receipt.error


def _mlflow_run(tags: dict[str, str]) -> dict:
    """The recorded model version with its run's git tags replaced by `tags`."""
    doc = json.loads((RECORDED / "01-mlflow-sync_model_version.json").read_text())
    kept = [t for t in doc["run"]["data"]["tags"] if not t["key"].startswith("mlflow.source.git")]
    doc["run"]["data"]["tags"] = kept + [{"key": k, "value": v} for k, v in tags.items()]
    return doc


def _oci_image(labels: dict[str, str]) -> dict:
    doc = json.loads((RECORDED / "07-oci-sync_image.json").read_text())
    doc["config"]["config"]["Labels"] = {"build.marker": "one", **labels}
    return doc


def _openlineage(source_code: dict) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-22T01:30:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        "run": {"runId": "0193f1c2-1111-7000-8000-000000000001"},
        "job": {
            "namespace": "airflow",
            "name": "train_fraud_model",
            "facets": {
                "sourceCodeLocation": {
                    "_producer": "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/client/python",
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SourceCodeLocationJobFacet.json",
                    "type": "git",
                    **source_code,
                }
            },
        },
        "inputs": [],
        "outputs": [],
    }


def _commit_neighbours(uri: str) -> set[str]:
    return set(
        LineageEdge.objects.filter(source__uri=uri).values_list("target__kind", flat=True)
    )


def test_a_commit_seen_by_mlflow_tags_an_oci_label_and_openlineage_is_one_node():
    _parse("oci", "sync.image", _oci_image({
        "org.opencontainers.image.source": "git@github.com:Octo-Org/fraud-model.git",
        "org.opencontainers.image.revision": SHA.upper(),
    }))  # fmt: skip
    _parse("mlflow", "sync.model_version", _mlflow_run({
        "git_sha": SHA[:8], "git_repo": "ssh://git@GitHub.com/octo-org/fraud-model",
    }))  # fmt: skip
    _parse("openlineage", "COMPLETE", _openlineage({
        "url": f"https://github.com/octo-org/fraud-model/blob/{SHA}/train.py",
        "repoUrl": "https://GITHUB.com/octo-org/fraud-model.git", "version": SHA,
    }))  # fmt: skip

    commits = Artifact.objects.filter(kind="commit", uri__contains="fraud-model")
    assert list(commits.values_list("uri", flat=True)) == [COMMIT_URI]
    # The one node leads to the image, the MLflow run and model version, and the OpenLineage job.
    assert _commit_neighbours(COMMIT_URI) >= {"image", "run", "model-version", "job"}


def test_a_short_sha_seen_first_becomes_its_long_sha_when_that_arrives():
    _parse("mlflow", "sync.model_version", _mlflow_run({
        "git_commit": SHA[:7], "mlflow.source.git.repoURL": "https://github.com/octo-org/fraud-model.git",
    }))  # fmt: skip
    short = Artifact.objects.get(kind="commit", uri__contains="fraud-model")
    assert short.uri == f"git+https://github.com/octo-org/fraud-model@{SHA[:7]}"

    _parse("oci", "sync.image", _oci_image({
        "org.label-schema.vcs-url": "https://github.com/octo-org/fraud-model",
        "org.label-schema.vcs-ref": SHA,
    }))  # fmt: skip

    commit = Artifact.objects.get(kind="commit", uri__contains="fraud-model")
    assert (commit.pk, commit.uri, commit.digest) == (short.pk, COMMIT_URI, f"sha1:{SHA}")
    assert _commit_neighbours(COMMIT_URI) >= {"image", "run", "model-version"}


def test_an_ambiguous_short_sha_stays_its_own_node():
    other = SHA[:7] + "0" * 33
    for sha in (SHA, other):
        _parse("oci", "sync.image", _oci_image({
            "org.opencontainers.image.source": "https://github.com/octo-org/fraud-model",
            "org.opencontainers.image.revision": sha,
        }) | {"digest": "sha256:" + sha[:32] * 2, "manifest": {"schemaVersion": 2, "layers": [], "config": {}}})
    _parse("mlflow", "sync.model_version", _mlflow_run({
        "git_sha": SHA[:7], "mlflow.source.git.repoURL": "https://github.com/octo-org/fraud-model",
    }))  # fmt: skip

    uris = set(Artifact.objects.filter(kind="commit", uri__contains="fraud-model").values_list("uri", flat=True))
    assert uris == {COMMIT_URI, f"git+https://github.com/octo-org/fraud-model@{other}",
                    f"git+https://github.com/octo-org/fraud-model@{SHA[:7]}"}  # fmt: skip
