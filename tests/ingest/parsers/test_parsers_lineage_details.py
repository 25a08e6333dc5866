"""Parser edges of issue 20, holes 7 and 8: OpenLineage facets and MLflow metric history, on their own."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.formats import ParseError
from apps.formats.mlflow import HISTORY_SERIES, is_webhook_test, parse_mlflow
from apps.formats.openlineage import parse_openlineage
from tests.ingest.parsers.test_parsers_connectors import FUZZ, outcome

RUN = "3f0e2c1a-8d7b-4c55-9a1e-1f2d3c4b5a69"


def _event(input_facets: dict, facets: dict | None = None) -> bytes:
    return json.dumps(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-12-01T10:00:00Z",
            "run": {"runId": RUN},
            "job": {"namespace": "airflow://prod", "name": "checks"},
            "inputs": [{"namespace": "pg://db", "name": "t", "facets": facets or {}, "inputFacets": input_facets}],
            "producer": "https://example.org/producer",
        }
    ).encode()


def test_metrics_without_assertions_are_information_not_a_pass():
    body = _event({"dataQualityMetrics": {"rowCount": 10, "columnMetrics": {"a": {"nullCount": 2}}}})
    quality = next(e for e in parse_openlineage("COMPLETE", body).evidence if e.kind == "data-quality")
    assert (quality.verdict, quality.summary["success"]) == ("info", None)
    assert quality.summary["null_counts"] == {"a": 2} and quality.summary["row_count"] == 10


def test_an_assertion_without_a_boolean_success_is_refused_with_its_place():
    body = _event({"dataQualityAssertions": {"assertions": [{"assertion": "not_null", "success": "yes"}]}})
    with pytest.raises(ParseError, match=r"inputs\[0\]\.dataQualityAssertions\.assertions\[0\]\.success"):
        parse_openlineage("COMPLETE", body)


def test_nested_schema_fields_are_flattened_with_their_parent():
    body = _event({}, {"schema": {"fields": [{"name": "address", "type": "STRUCT", "fields": [{"name": "zip"}]}]}})
    version = next(e for e in parse_openlineage("COMPLETE", body).evidence if e.kind == "dataset-version")
    assert [f["name"] for f in version.summary["schema"]] == ["address", "address.zip"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@FUZZ
@given(name=st.sampled_from(["dataQualityMetrics", "dataQualityAssertions", "schema", "outputStatistics"]),
       value=json_values)
def test_any_facet_value_is_read_or_refused_never_crashes(name, value):
    outcome(parse_openlineage, "COMPLETE", _event({name: value}, {name: value}))


def test_a_long_metric_history_keeps_every_point_as_records_and_a_sampled_series():
    points = [{"key": "loss", "value": 1 / (step + 1), "step": str(step), "timestamp": "1733000000000"}
              for step in range(1000)]
    doc = {
        "document": "mlflow.model-version/v1",
        "model_version": {"name": "m", "version": "1", "run_id": "abc123", "creation_timestamp": 1733000000000},
        "run": {"info": {"run_id": "abc123"}, "data": {"metrics": [{"key": "loss", "value": 0.001}]}},
        "metric_history": {"loss": list(reversed(points))},
    }
    metrics = next(e for e in parse_mlflow("sync.model_version", json.dumps(doc).encode()).evidence
                   if e.kind == "metrics")
    history = metrics.summary["history"]["loss"]
    assert history["points"] == 1000 and len(history["series"]) == HISTORY_SERIES
    assert history["series"][0] == [0, 1.0] and history["series"][-1] == [999, 0.001]
    assert len(metrics.records) == 1000 and metrics.records[0]["step"] == 0


def test_only_the_exact_example_payload_is_a_webhook_test():
    example = {"name": "example_model", "alias": "example_alias", "version": "1"}
    assert is_webhook_test({"entity": "model_version_alias", "action": "created", "data": example})
    assert not is_webhook_test({"entity": "model_version_alias", "action": "created", "data": {**example,
                                                                                              "version": "2"}})
    assert not is_webhook_test({"entity": "model_version", "action": "created", "data": example})


def test_a_dataset_event_keeps_its_schema_as_a_fact_of_the_dataset():
    body = json.dumps(
        {
            "eventTime": "2026-12-01T10:00:00Z",
            "dataset": {"namespace": "pg://db", "name": "t", "facets": {"schema": {"fields": [{"name": "id"}]}}},
            "producer": "https://example.org/producer",
        }
    ).encode()
    version = next(e for e in parse_openlineage("DatasetEvent", body).evidence if e.kind == "dataset-version")
    assert version.subjects[0].uri == "openlineage-dataset:pg://db/t"
    assert version.summary["schema"] == [{"name": "id", "type": "", "description": ""}]
