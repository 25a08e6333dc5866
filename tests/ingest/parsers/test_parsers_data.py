"""Facts from data and model pipeline evidence: Great Expectations, drift, Fairlearn, DVC (see data/README.md)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.formats import ParseError, detect_format
from apps.formats.drift import parse_drift
from apps.formats.dvc import parse_dvc
from apps.formats.fairness import parse_fairness
from apps.formats.great_expectations import gx_time, parse_great_expectations
from apps.formats.mlreports import parse_metrics

DATA = Path(__file__).parent / "data"
INFRA = DATA / "infra"
RAW = "dataset:md5:4427cfbf26b4889134797c1beef47339"
PREPARED = "dataset:md5:151ed1638df78e4d9b4bf1935db3247f.dir"
MODEL = "file:md5:b83ff727d2673a18278ab120cf4d7a0a"
DATASET_SHA = "dataset:sha256:" + "ab" * 32


def read(name: str) -> bytes:
    return (INFRA / name).read_bytes()


# --- Great Expectations ---------------------------------------------------------------


def test_gx_validation_result_fails_with_unexpected_counts_per_column():
    result = parse_great_expectations(read("gx_validation_result.json"))
    assert result.format == "great-expectations"
    evidence = result.evidence[0]
    assert (evidence.kind, evidence.verdict) == ("data-quality", "fail")
    assert evidence.summary["suite"] == "training_data_quality"
    assert evidence.summary["data_asset"] == "training_patients"
    assert evidence.summary["datasource"] == "clinic"
    assert evidence.summary["gx_version"] == "1.24.1"
    assert (evidence.summary["evaluated_expectations"], evidence.summary["unsuccessful_expectations"]) == (4, 3)
    failed = {(f["expectation_type"], f["column"]): f for f in evidence.summary["failed_expectations"]}
    assert failed[("expect_column_values_to_be_between", "age")]["unexpected_count"] == 2
    assert failed[("expect_column_values_to_be_between", "age")]["unexpected_percent"] == 20.0
    assert failed[("expect_column_values_to_not_be_null", "patient_id")]["unexpected_count"] == 1
    assert failed[("expect_column_values_to_be_in_set", "sex")]["unexpected_count"] == 1
    row_count = evidence.records[3]
    assert (row_count["expectation_type"], row_count["success"], row_count["observed_value"]) == (
        "expect_table_row_count_to_be_between",
        True,
        10,
    )
    assert evidence.records[1]["kwargs"] == {"column": "age", "min_value": 0.0, "max_value": 120.0}
    assert evidence.effective_at is not None and evidence.effective_at.tzinfo is not None
    assert evidence.verdict_reason.startswith("3 of 4 expectations failed: expect_column_values_to_not_be_null")


def test_gx_checkpoint_describe_dict_gives_the_same_counts():
    evidence = parse_great_expectations(read("gx_checkpoint_result.json")).evidence[0]
    assert evidence.verdict == "fail"
    assert [f["unexpected_count"] for f in evidence.summary["failed_expectations"]] == [1, 2, 1]


def test_gx_legacy_checkpoint_run_results_and_passing_suite():
    validation = {
        "success": True,
        "results": [
            {
                "success": True,
                "expectation_config": {"expectation_type": "expect_column_to_exist", "kwargs": {"column": "id"}},
                "result": {},
                "exception_info": {"raised_exception": False},
            }
        ],
        "statistics": {"evaluated_expectations": 1, "successful_expectations": 1, "unsuccessful_expectations": 0},
        "meta": {
            "expectation_suite_name": "orders.warning",
            "run_id": {"run_name": "nightly", "run_time": "2023-02-01T10:00:00+01:00"},
            "batch_kwargs": {"datasource": "warehouse", "data_asset_name": "orders"},
        },
    }
    checkpoint = {
        "run_id": {"run_name": "nightly", "run_time": "2023-02-01T10:00:00+01:00"},
        "run_results": {"ValidationResultIdentifier::orders.warning/nightly": {"validation_result": validation}},
        "checkpoint_config": {"name": "orders_checkpoint"},
        "success": True,
    }
    body = json.dumps(checkpoint).encode()
    assert detect_format(body) == "great-expectations"
    evidence = parse_great_expectations(body).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("pass", "all 1 expectation met")
    assert (evidence.summary["suite"], evidence.summary["checkpoint"]) == ("orders.warning", "orders_checkpoint")
    assert evidence.effective_at == datetime(2023, 2, 1, 9, tzinfo=UTC)


def test_gx_an_expectation_that_raised_counts_as_failed():
    doc = {
        "success": False,
        "statistics": {},
        "results": [
            {
                "success": False,
                "expectation_config": {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x"}},
                "exception_info": {"raised_exception": True, "exception_message": "column x not found"},
            }
        ],
    }
    record = parse_great_expectations(json.dumps(doc).encode()).evidence[0].records[0]
    assert (record["success"], record["exception"]) == (False, "column x not found")
    with pytest.raises(ParseError, match="success must be true or false"):
        parse_great_expectations(b'{"statistics": {}, "results": [{"success": "yes"}]}')


def test_gx_compact_timestamps_are_read():
    assert gx_time("20240501T120000.123456Z") == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert gx_time("20241301T120000Z") is None


# --- drift ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["evidently_drift_report.json", "evidently_legacy_drift_report.json"])
def test_evidently_reports_name_the_drifted_columns(name):
    evidence = parse_drift(read(name)).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("drift", "fail")
    assert evidence.summary["drifted_columns"] == ["age", "visits"]
    assert evidence.summary["dataset_drift"] is True
    assert evidence.summary["drift_share_threshold"] == 0.5
    assert (evidence.summary["number_of_columns"], evidence.summary["number_of_drifted_columns"]) == (4, 2)
    columns = {r["column"]: r for r in evidence.records}
    assert columns["region"]["stattest"] == "chi-square p_value"
    assert columns["income"]["drift_detected"] is False
    assert columns["age"]["score"] < 1e-10 and columns["age"]["threshold"] == 0.05


def test_evidently_distance_methods_drift_at_or_above_the_threshold():
    report = {
        "metrics": [
            {
                "metric_name": "ValueDrift(column=x,method=PSI,threshold=0.1)",
                "config": {"type": "evidently:metric_v2:ValueDrift", "column": "x", "method": "PSI", "threshold": 0.1},
                "value": 0.25,
            },
            {"metric_name": "ValueDrift(column=y,method=Wasserstein distance (normed),threshold=0.1)", "value": 0.01},
        ]
    }
    evidence = parse_drift(json.dumps(report).encode()).evidence[0]
    assert [(r["column"], r["drift_detected"]) for r in evidence.records] == [("x", True), ("y", False)]
    assert evidence.verdict == "fail"  # no dataset-level metric: any drifted column decides


def test_plain_drift_summary_fails_over_the_psi_threshold_and_links_datasets():
    summary = {
        "type": "drift-summary",
        "dataset": DATASET_SHA,
        "reference": "training-2024-05",
        "generated_at": "2024-06-03T09:00:00Z",
        "columns": [
            {"name": "age", "psi": 0.31, "ks_statistic": 0.42, "ks_pvalue": 0.0001},
            {"name": "income", "psi": 0.05, "ks_statistic": 0.08, "ks_pvalue": 0.4},
        ],
        "threshold": {"psi": 0.2},
    }
    body = json.dumps(summary).encode()
    assert detect_format(body) == "drift"
    evidence = parse_drift(body).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("fail", "dataset drift: 1 of 2 columns drifted (age)")
    assert evidence.summary["max_psi"] == 0.31
    assert [s.uri for s in evidence.subjects] == [DATASET_SHA]
    assert evidence.records[0] == {
        "column": "age",
        "column_type": "",
        "stattest": "psi",
        "score": 0.31,
        "threshold": 0.2,
        "drift_detected": True,
        "psi": 0.31,
        "ks_statistic": 0.42,
        "ks_pvalue": 0.0001,
    }
    summary["columns"][0]["psi"] = 0.1
    assert parse_drift(json.dumps(summary).encode()).evidence[0].verdict == "pass"
    summary["threshold"] = {"ks_pvalue": 0.05}
    assert parse_drift(json.dumps(summary).encode()).evidence[0].summary["drifted_columns"] == ["age"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"type": "drift-summary", "columns": [{"psi": 0.1}]}, r"columns\[0\]\.name is missing"),
        ({"type": "drift-summary", "columns": [{"name": "a", "psi": "high"}]}, "psi must be a finite number"),
        ({"type": "drift-summary", "columns": [], "threshold": {"psi": "x"}}, "threshold.psi must be a finite"),
        ({"something": 1}, "expected an Evidently report"),
        ({"metrics": []}, "has no metrics"),
    ],
)
def test_drift_input_errors_say_what_to_fix(doc, message):
    with pytest.raises(ParseError, match=message):
        parse_drift(json.dumps(doc).encode())


# --- fairness -------------------------------------------------------------------------


def test_fairlearn_metricframe_export_by_group_differences_and_thresholds():
    evidence = parse_fairness(read("fairlearn_metricframe.json")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("fairness", "fail")
    assert evidence.verdict_reason == "equalized_odds_difference = 0.227125 is above the maximum 0.2"
    assert [s.uri for s in evidence.subjects] == ["mlflow://loan-approval/12"]
    assert evidence.summary["sensitive_features"] == ["sex"]
    assert evidence.summary["by_group"]["accuracy"] == {"female": 0.605, "male": 0.8}
    assert evidence.summary["difference"]["accuracy"] == pytest.approx(0.195)
    assert evidence.summary["ratio"]["selection_rate"] == pytest.approx(0.8739, abs=1e-4)
    assert evidence.summary["fairness"]["demographic_parity_difference"] == pytest.approx(0.07)
    assert [(c["metric"], c["ok"]) for c in evidence.summary["thresholds"]] == [
        ("demographic_parity_difference", True),
        ("equalized_odds_difference", False),
        ("ratio.selection_rate", True),
    ]
    assert {"metric": "recall", "group": "female", "value": pytest.approx(0.6047, abs=1e-4)} in evidence.records
    assert evidence.effective_at == datetime(2024, 6, 3, 9, 30, tzinfo=UTC)


def test_the_plain_fairness_form_stays_with_mlreports():
    plain = (DATA / "fairlearn_report.json").read_bytes()
    assert detect_format(plain) == "metrics"
    assert parse_metrics(plain).evidence[0].kind == "fairness"
    assert detect_format(read("fairlearn_metricframe.json")) == "fairness"


def test_fairness_without_thresholds_is_info_and_nulls_are_kept():
    doc = {"by_group": {"recall": {"a": 0.5, "b": None}}, "difference": {"recall": None}}
    evidence = parse_fairness(json.dumps(doc).encode()).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("info", "no thresholds given")
    assert evidence.records[1] == {"metric": "recall", "group": "b", "value": None}
    with pytest.raises(ParseError, match="by_group is missing"):
        parse_fairness(b'{"overall": {"a": 1}}')
    with pytest.raises(ParseError, match=r"by_group\.recall\.a is 'high'"):
        parse_fairness(b'{"by_group": {"recall": {"a": "high"}}}')


# --- DVC ------------------------------------------------------------------------------


def test_dvc_lock_gives_dataset_versions_and_lineage_edges():
    evidence = parse_dvc(read("dvc.lock")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("data-version", "info")
    assert [s["name"] for s in evidence.summary["stages"]] == ["prepare", "train"]
    subjects = {s.uri: s for s in evidence.subjects}
    assert subjects[RAW].kind == "dataset" and subjects[RAW].name == "data/raw/patients.csv"
    assert subjects[RAW].digest == "md5:4427cfbf26b4889134797c1beef47339"
    assert subjects[PREPARED].name == "data/prepared"
    assert subjects[MODEL].kind == "file" and subjects[MODEL].name == "models/model.pkl"
    edges = {(e.source.uri, e.relation, e.target.uri) for e in evidence.edges}
    assert (RAW, "derived-from", PREPARED) in edges
    assert (PREPARED, "trained-on", MODEL) in edges
    assert not any("stage.py" in (e.source.name, e.target.name) for e in evidence.edges)  # code is no artifact
    assert evidence.summary["models"] == [
        {"path": "models/model.pkl", "md5": "b83ff727d2673a18278ab120cf4d7a0a", "stage": "train"}
    ]
    params = [r for r in evidence.records if r["role"] == "param"]
    assert [(p["stage"], p["path"], p["value"]) for p in params] == [
        ("prepare", "params.yaml:split", "0.75"),
        ("train", "params.yaml:seed", "7"),
    ]
    prepared = next(r for r in evidence.records if r["path"] == "data/prepared" and r["role"] == "out")
    assert (prepared["nfiles"], prepared["size"]) == (2, 94)


def test_dvc_file_from_dvc_add_is_the_same_dataset_version_as_the_lock_dependency():
    evidence = parse_dvc(read("patients.csv.dvc")).evidence[0]
    assert [s.uri for s in evidence.subjects] == [RAW]
    assert evidence.summary["file_type"] == ".dvc"


def test_dvc_import_links_the_source_commit():
    body = b"""md5: 0123456789abcdef0123456789abcdef
frozen: true
deps:
- path: data/features.parquet
  repo:
    url: https://github.com/Acme/Feature-Store.git
    rev_lock: 3484a3fb816e0859fd6e1cea078d76385ff50625
outs:
- md5: fedcba9876543210fedcba9876543210
  size: 1024
  hash: md5
  path: features.parquet
"""
    assert detect_format(body) == "dvc"
    evidence = parse_dvc(body).evidence[0]
    (edge,) = evidence.edges
    assert edge.source.uri == "git+https://github.com/acme/feature-store@3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert (edge.relation, edge.target.uri) == ("derived-from", "dataset:md5:fedcba9876543210fedcba9876543210")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"schema: '1.0'\nstages: {}\n", "only schema '2.0'"),
        (b"schema: '2.0'\nstages: [1]\n", "stages must be a mapping"),
        (b"schema: '2.0'\nstages:\n  a:\n    outs: 3\n", r"stages\.a\.outs must be a list"),
        (b"hello: world\n", "neither 'stages'"),
        (b"a: 1\n---\nb: 2\n", "expected one YAML mapping"),
    ],
)
def test_dvc_input_errors_say_what_to_fix(body, message):
    with pytest.raises(ParseError, match=message):
        parse_dvc(body)
