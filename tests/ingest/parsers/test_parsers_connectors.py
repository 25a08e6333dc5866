"""The MLflow, OCI and OpenLineage parsers: recorded documents from real servers, and hypothesis fuzzing.

Fixtures: devtools/demo/data/, recorded from a real `mlflow server` and Debian's docker-registry by
tests/ingest/parsers/data/sources/record_connectors.py.txt (the command is in its docstring).
"""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.formats import ParseError, ParseResult, parse_webhook
from apps.formats.mlflow import parse_mlflow
from apps.formats.oci import parse_oci
from apps.formats.openlineage import parse_openlineage

RECORDED = Path(__file__).resolve().parents[3] / "devtools" / "demo" / "data"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSERS = {"mlflow": parse_mlflow, "oci": parse_oci, "openlineage": parse_openlineage}


def outcome(call, *args):
    try:
        result = call(*args)
    except ParseError as exc:
        assert str(exc)
        return None
    assert isinstance(result, ParseResult)
    for evidence in result.evidence:
        json.dumps(evidence.summary, allow_nan=False)
        assert evidence.verdict in ("pass", "fail", "info")
        assert evidence.effective_at is None or evidence.effective_at.tzinfo is not None
        for subject in evidence.subjects:
            assert subject.uri and subject.kind
        for edge in evidence.edges:
            assert edge.source.uri != edge.target.uri
    return result


def recorded():
    for meta in sorted(RECORDED.glob("*.meta.json")):
        info = json.loads(meta.read_text())
        if info["channel"] in PARSERS:
            yield pytest.param(
                info["channel"],
                info["event"],
                meta.with_name(meta.name.replace(".meta", "")),
                id=meta.name.split(".")[0],
            )


@pytest.mark.parametrize(("channel", "event", "path"), list(recorded()))
def test_recorded_documents_parse(channel, event, path):
    result = outcome(parse_webhook, channel, event, path.read_bytes())
    assert result is not None and result.evidence


def test_the_recorded_model_version_has_lineage_metrics_and_fairness():
    body = next(RECORDED.glob("*-mlflow-sync_model_version.json")).read_bytes()
    result = parse_mlflow("sync.model_version", body)
    kinds = [e.kind for e in result.evidence]
    assert kinds == ["model-version", "metrics", "fairness"]
    relations = {(e.source.kind, e.relation, e.target.kind) for e in result.evidence[0].edges}
    assert {
        ("dataset", "trained-on", "run"),
        ("run", "derived-from", "model-version"),
        ("commit", "built-from", "model-version"),
    } <= relations
    assert "demographic_parity_difference" in result.evidence[2].summary["fairness"]


def test_an_environment_tag_move_is_a_deployment():
    doc = {
        "registry": "r.test",
        "repository": "a/b",
        "tag": "prod",
        "previous_digest": "sha256:" + "1" * 64,
        "digest": "sha256:" + "2" * 64,
        "observed_at": "2024-05-01T00:00:00Z",
    }
    evidence = parse_oci("sync.tag_move", json.dumps(doc).encode()).evidence[0]
    assert [(e.relation, e.target.kind) for e in evidence.edges] == [("deployed-as", "deployment")]
    assert evidence.summary["previous_digest"] == "sha256:" + "1" * 64


def test_openlineage_failures_fail_and_sha256_datasets_meet_other_sources():
    event = {
        "eventType": "FAIL",
        "eventTime": "2024-05-01T00:00:00Z",
        "run": {"runId": "r-1"},
        "job": {"namespace": "n", "name": "j"},
        "outputs": [{"namespace": "s3://b", "name": "x", "facets": {"version": {"datasetVersion": "ab" * 32}}}],
    }
    evidence = parse_openlineage("FAIL", json.dumps(event).encode()).evidence[0]
    assert evidence.verdict == "fail"
    assert "dataset:sha256:" + "ab" * 32 in {s.uri for s in evidence.subjects}


@pytest.mark.parametrize("channel", sorted(PARSERS))
@FUZZ
@given(
    body=st.binary(max_size=400),
    event=st.sampled_from(
        [
            "sync.model_version",
            "sync.alias_change",
            "sync.stage_change",
            "sync.image",
            "sync.tag_move",
            "notification",
            "START",
            "x",
        ]
    ),
)
def test_arbitrary_bytes_give_a_result_or_a_parse_error(channel, body, event):
    outcome(PARSERS[channel], event, body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


@pytest.mark.parametrize(("channel", "event", "path"), list(recorded()))
@FUZZ
@given(data=st.data())
def test_mutated_recorded_documents_give_a_result_or_a_parse_error(channel, event, path, data):
    doc = json.loads(path.read_bytes())
    # Replace one top-level value with arbitrary JSON: shape errors must be ParseErrors.
    key = data.draw(st.sampled_from(sorted(doc)))
    doc[key] = data.draw(JSON)
    outcome(PARSERS[channel], event, json.dumps(doc).encode())
