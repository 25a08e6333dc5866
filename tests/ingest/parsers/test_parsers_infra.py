"""Facts from infrastructure evidence: Terraform, Kubernetes, Checkov, OPA (see data/README.md)."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.formats import PARSERS, ParseError, detect_format, parse_upload
from apps.formats.checkov import parse_checkov
from apps.formats.kubernetes import parse_kubernetes
from apps.formats.opa import input_sha256, parse_opa
from apps.formats.sarif import parse_sarif
from apps.formats.terraform import iam_wildcards, parse_terraform, tls_version_of

INFRA = Path(__file__).parent / "data" / "infra"
API_IMAGE = "oci://ghcr.io/acme/clinic-api@sha256:9b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001"

EXPECTED_FORMATS = {
    "terraform_plan.json": "terraform",
    "terraform_state.json": "terraform",
    "k8s_workloads.yaml": "kubernetes",
    "checkov_tf_k8s.json": "checkov",
    "checkov_terraform.json": "checkov",
    "checkov_tf_k8s.sarif": "sarif",
    "opa_decisions.jsonl": "opa",
    "gx_validation_result.json": "great-expectations",
    "gx_checkpoint_result.json": "great-expectations",
    "evidently_drift_report.json": "drift",
    "evidently_legacy_drift_report.json": "drift",
    "fairlearn_metricframe.json": "fairness",
    "dvc.lock": "dvc",
    "patients.csv.dvc": "dvc",
}


def read(name: str) -> bytes:
    return (INFRA / name).read_bytes()


def records_by(evidence, key: str) -> dict:
    return {record[key]: record for record in evidence.records}


# --- detection and the registry -------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FORMATS.items()))
def test_every_infra_and_data_fixture_is_detected_from_its_content(name, expected):
    assert detect_format(read(name)) == expected
    assert detect_format(read(name), content_type="application/pdf", filename="scan.pdf") == expected


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FORMATS.items()))
def test_parse_upload_parses_every_infra_and_data_fixture_json_safely(name, expected):
    result = parse_upload(read(name), filename=name)
    assert result.format == expected
    assert result.evidence
    for evidence in result.evidence:
        json.dumps(evidence.summary, allow_nan=False)
        json.dumps(evidence.records, allow_nan=False)
        assert evidence.verdict in ("pass", "fail", "info") and evidence.verdict_reason
        assert evidence.effective_at is None or evidence.effective_at.tzinfo is not None


def test_every_new_format_is_registered():
    for fmt in ("terraform", "kubernetes", "checkov", "great-expectations", "drift", "fairness", "dvc", "opa"):
        assert fmt in PARSERS


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"hello", "generic"),
        (b"[1, 2]", "generic"),
        (b"[]", "generic"),
        (b"key: value\nother: 1\n", "generic"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "kubernetes"),
        (b"---\n# comment\n- apiVersion: v1\n  kind: Pod\n", "kubernetes"),
        (b'{"apiVersion": "v1", "kind": "List", "items": []}', "kubernetes"),
        (b"outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: data.csv\n", "dvc"),
        (b"schema: '2.0'\nstages:\n  train:\n    cmd: python t.py\n", "dvc"),
        (b'{"format_version": "1.0"}', "generic"),
        (b'{"format_version": "1.0", "terraform_version": "1.9.5"}', "terraform"),
        (b'[{"decision_id": "x", "path": "a/b", "result": true}]', "opa"),
        (b'{"decision_id": "x", "path": "a/b", "result": true}', "opa"),
        (b'{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "checkov_version": "3.3.30"}', "checkov"),
        (b'{"type": "drift-summary", "columns": []}', "drift"),
        (b'{"model": "m", "metrics": {"auc": 0.9}}', "metrics"),
    ],
)
def test_detection_of_small_documents(body, expected):
    assert detect_format(body) == expected


def test_large_documents_are_detected_from_their_head():
    padding = [{"address": f"null_resource.r{i}", "mode": "managed", "type": "null_resource"} for i in range(30_000)]
    plan = {"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": padding}
    body = json.dumps(plan).encode()
    assert len(body) > 2 * 1024 * 1024
    assert detect_format(body) == "terraform"
    lines = b"\n".join(
        json.dumps({"decision_id": str(i), "path": "a/allow", "result": True, "pad": "x" * 200}).encode()
        for i in range(12_000)
    )
    assert detect_format(lines) == "opa"


# --- Terraform ------------------------------------------------------------------------


def test_terraform_plan_flags_the_unencrypted_public_bucket_by_address():
    evidence = parse_terraform(read("terraform_plan.json")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("infrastructure", "info")
    assert evidence.effective_at == datetime(2024, 6, 3, 8, 15, 42, tzinfo=UTC)
    findings = {(f["address"], f["issue"]) for f in evidence.summary["findings"]}
    assert ("aws_s3_bucket.raw_exports", "not encrypted at rest") in findings
    assert ("aws_s3_bucket.raw_exports", "public: acl public-read (aws_s3_bucket_acl.raw_exports)") in findings
    assert ("aws_s3_bucket.raw_exports", "no public access block") in findings
    assert ("aws_db_instance.reporting", "not encrypted at rest") in findings
    assert ("aws_db_instance.reporting", "public: publicly_accessible = true") in findings
    assert ("aws_security_group.bastion", "public: ingress port 22 from 0.0.0.0/0") in findings
    assert ("aws_lb_listener.http", "plain HTTP listener without a redirect to HTTPS") in findings
    assert ("aws_lb_listener.https", "TLS policy ELBSecurityPolicy-2016-08 allows TLS 1.0") in findings
    assert ("aws_iam_policy.ops_admin", "IAM statement allows * on Resource '*'") in findings
    assert evidence.summary["unencrypted"] == ["aws_db_instance.reporting", "aws_s3_bucket.raw_exports"]
    assert evidence.summary["actions"] == {"create": 17, "delete": 1}
    assert evidence.summary["document"] == "plan"


def test_terraform_plan_attaches_separate_s3_resources_and_resolves_keys_and_regions():
    evidence = parse_terraform(read("terraform_plan.json")).evidence[0]
    by_address = records_by(evidence, "address")
    assert "aws_s3_bucket.legacy" not in by_address  # being destroyed
    patient = by_address["aws_s3_bucket.patient_records"]
    # kms_master_key_id is only known after apply: the configuration's reference stands in
    assert patient["encryption"] == {
        "at_rest": True,
        "algorithm": "aws:kms",
        "kms_key": "aws_kms_key.data.arn",
        "detail": "aws_s3_bucket_server_side_encryption_configuration.patient_records",
    }
    assert patient["public_access_block"]["all"] is True
    assert patient["public"] is False and patient["findings"] == []
    # a counted bucket in a child module, linked through its count-indexed reference
    trail = by_address["module.audit.aws_s3_bucket.trail[0]"]
    assert trail["module"] == "module.audit"
    assert (trail["encryption"]["at_rest"], trail["encryption"]["algorithm"]) == (True, "AES256")
    assert by_address["module.audit.aws_cloudwatch_log_group.trail"]["log_retention_days"] == 400
    assert by_address["aws_cloudwatch_log_group.app"]["log_retention_days"] == 7
    # region from the aliased provider the resource uses, else the default provider
    assert by_address["aws_db_instance.reporting"]["region"] == "us-east-1"
    assert by_address["aws_s3_bucket.raw_exports"]["region"] == "eu-west-1"
    assert by_address["aws_ebs_volume.scratch"]["encryption"]["kms_key"] == "aws_kms_key.data.arn"
    assert by_address["aws_lb_listener.https"]["tls"]["min_tls_version"] == "1.0"
    assert by_address["aws_iam_policy.ops_admin"]["iam_wildcards"] == [
        {"sid": "", "effect": "Allow", "actions": ["*"], "resource_wildcard": True},
        {"sid": "", "effect": "Allow", "actions": ["s3:*"], "resource_wildcard": False},
    ]


def test_terraform_state_with_child_modules_across_clouds():
    evidence = parse_terraform(read("terraform_state.json")).evidence[0]
    assert evidence.summary["document"] == "state"
    assert evidence.effective_at is None
    by_address = records_by(evidence, "address")
    assert len(by_address) == 10
    azure = by_address["azurerm_storage_account.exports"]
    assert azure["region"] == "westeurope"
    assert azure["tls"]["min_tls_version"] == "1.0"
    assert azure["public"] is True
    models = by_address["google_storage_bucket.models"]
    assert models["region"] == "eu"
    assert models["encryption"]["kms_key"] == "projects/acme-ml/locations/europe/keyRings/ml/cryptoKeys/models"
    assert models["public"] is False
    assert by_address["google_storage_bucket.public_site"]["public"] is True  # via its allUsers IAM member
    flow = by_address["module.network.aws_s3_bucket.flow_logs"]
    assert flow["region"] == "eu-central-1"
    assert flow["encryption"]["kms_key"] == "arn:aws:kms:eu-central-1:123456789012:alias/flow-logs"
    assert flow["public_access_block"]["all"] is False
    attachment = by_address['module.network.aws_iam_role_policy_attachment.ops["admin"]']
    assert attachment["iam_wildcards"][0]["actions"] == ["*"]
    assert by_address["google_sql_database_instance.analytics"]["findings"] == [
        "public: authorized network 0.0.0.0/0",
        "accepts unencrypted connections",
    ]
    assert evidence.summary["log_retention"] == [{"address": "azurerm_log_analytics_workspace.main", "days": 30}]


@pytest.mark.parametrize(
    ("policy", "version"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", "1.2"),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", "1.3"),
        ("ELBSecurityPolicy-TLS-1-1-2017-01", "1.1"),
        ("ELBSecurityPolicy-FS-1-2-Res-2020-10", "1.2"),
        ("ELBSecurityPolicy-2016-08", "1.0"),
        ("TLSv1.2_2021", "1.2"),
        ("TLSv1", "1.0"),
        ("TLS_1_0", "1.0"),
        ("TLS1_2", "1.2"),
        ("Policy-Min-TLS-1-2-2019-07", "1.2"),
        ("1.2", "1.2"),
        ("something-else", ""),
    ],
)
def test_tls_policy_names_map_to_minimum_versions(policy, version):
    assert tls_version_of(policy) == version


def test_iam_wildcards_ignore_deny_and_specific_statements():
    document = {
        "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        ]
    }
    assert iam_wildcards(json.dumps(document)) == [
        {"sid": "", "effect": "Allow", "actions": ["NotAction"], "resource_wildcard": True}
    ]
    assert iam_wildcards("{not json") == []


def test_terraform_plan_without_planned_values_uses_resource_changes():
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_ebs_volume.v",
                "mode": "managed",
                "type": "aws_ebs_volume",
                "name": "v",
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": ["delete", "create"],
                    "after": {"encrypted": False, "availability_zone": "eu-north-1b"},
                },
            },
            {"address": "data.aws_caller_identity.me", "mode": "data", "type": "aws_caller_identity", "change": {}},
        ],
    }
    record = parse_terraform(json.dumps(plan).encode()).evidence[0].records[0]
    assert (record["action"], record["region"], record["findings"]) == (
        "replace",
        "eu-north-1",
        ["not encrypted at rest"],
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format_version": "2.0", "values": {}}, "format_version '2.0' is not supported"),
        ({"values": {}}, "format_version is missing"),
        ({"format_version": "1.0", "other": 1}, "neither planned_values"),
        ({"format_version": "1.0", "values": {"root_module": {"resources": "x"}}}, "resources must be an array"),
    ],
)
def test_terraform_input_errors_say_what_to_fix(doc, message):
    with pytest.raises(ParseError, match=message):
        parse_terraform(json.dumps(doc).encode())


# --- Kubernetes -----------------------------------------------------------------------


def test_kubernetes_flags_the_privileged_pod_with_its_container_name():
    evidence = parse_kubernetes(read("k8s_workloads.yaml")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("kubernetes-manifests", "info")
    assert evidence.summary["privileged"] == ["kube-system/Pod/node-debug:shell"]
    assert evidence.summary["by_kind"] == {"Deployment": 1, "Pod": 1, "CronJob": 1, "Service": 1}
    assert evidence.summary["host_paths"] == [
        "kube-system/Pod/node-debug:shell /",
        "clinic/CronJob/nightly-export:export /var/log/export",
    ]
    containers = {(r["workload"], r["container"]): r for r in evidence.records}
    shell = containers[("node-debug", "shell")]
    assert shell["privileged"] is True and shell["host_network"] and shell["host_pid"]
    assert shell["capabilities_added"] == ["SYS_ADMIN"]
    assert "privileged" in shell["findings"] and "adds capability SYS_ADMIN" in shell["findings"]
    api = containers[("api", "api")]
    assert api["findings"] == []
    assert (api["read_only_root_filesystem"], api["run_as_non_root"], api["run_as_user"]) == (True, True, 10001)
    assert (api["service_account"], api["automount_service_account_token"]) == ("api", False)
    assert (api["limits_cpu"], api["limits_memory"], api["has_limits"]) == ("500m", "256Mi", True)
    migrate = containers[("api", "migrate")]
    assert (migrate["container_type"], migrate["image_tag"], migrate["pinned_by_digest"]) == ("init", "1.4.2", False)
    export = containers[("nightly-export", "export")]
    assert export["kind"] == "CronJob" and "runs as root (runAsUser 0)" in export["findings"]
    assert export["service_account"] == "default"
    assert [s.uri for s in evidence.subjects] == [API_IMAGE]


def test_kubernetes_json_list_and_yaml_give_the_same_containers():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]},
    }
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod]}).encode()
    assert detect_format(body) == "kubernetes"
    record = parse_kubernetes(body).evidence[0].records[0]
    assert (record["object"], record["privileged"], record["image"]) == ("-/Pod/p", True, "nginx")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"just: yaml\n", "no object with apiVersion and kind"),
        (b"- 1\n- 2\n", "document 1 is a number"),
        (b"apiVersion: v1\nkind: [unclosed\n", "not valid YAML"),
        (b"a: &a [*a]\napiVersion: v1\nkind: Pod\n", "contains itself"),
    ],
)
def test_kubernetes_input_errors_say_what_to_fix(body, message):
    with pytest.raises(ParseError, match=message):
        parse_kubernetes(body)


# --- Checkov --------------------------------------------------------------------------


def test_checkov_json_per_framework_fails_with_the_failed_checks_and_resources():
    evidence = parse_checkov(read("checkov_tf_k8s.json")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("iac-scan", "fail")
    assert evidence.summary["checkov_version"] == "3.3.30"
    assert [(f["check_type"], f["passed"], f["failed"]) for f in evidence.summary["frameworks"]] == [
        ("kubernetes", 9, 24),
        ("terraform", 7, 13),
    ]
    failed = {(r["check_id"], r["resource"]) for r in evidence.records if r["status"] == "failed"}
    assert ("CKV_AWS_145", "aws_s3_bucket.raw_exports") in failed
    assert ("CKV_AWS_16", "aws_db_instance.reporting") in failed
    assert ("CKV_K8S_16", "Pod.kube-system.node-debug") in failed  # privileged container
    rds = next(r for r in evidence.records if r["check_id"] == "CKV_AWS_16")
    assert (rds["file_path"], rds["lines"]) == ("/main.tf", "56-67")
    assert evidence.summary["failed_resources"]["Pod.kube-system.node-debug"] == 11


def test_checkov_single_report_and_bare_summary():
    single = parse_checkov(read("checkov_terraform.json")).evidence[0]
    assert single.verdict == "fail"
    assert single.verdict_reason.startswith("13 failed checks: CKV_AWS_103 ×2")
    empty = json.dumps(
        {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0, "checkov_version": "3.3.30"}
    ).encode()
    evidence = parse_checkov(empty).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("info", "no checks ran")
    passing = {
        "check_type": "terraform",
        "results": {"passed_checks": [{"check_id": "CKV_AWS_1"}], "failed_checks": []},
    }
    assert parse_checkov(json.dumps(passing).encode()).evidence[0].verdict == "pass"
    with pytest.raises(ParseError, match="no check_type or results"):
        parse_checkov(b'[{"something": 1}]')


def test_checkov_sarif_goes_through_the_sarif_parser():
    evidence = parse_sarif(read("checkov_tf_k8s.sarif")).evidence[0]
    assert evidence.summary["tools"][0]["name"] == "Checkov"
    assert evidence.summary["results_total"] == 37
    assert evidence.verdict == "fail"
    assert {"id": "CKV_AWS_145", "results": 1} in evidence.summary["rules"]


# --- OPA ------------------------------------------------------------------------------


def test_opa_decision_log_fails_on_denies_and_hashes_inputs():
    evidence = parse_opa(read("opa_decisions.jsonl")).evidence[0]
    assert (evidence.kind, evidence.verdict) == ("policy-decisions", "fail")
    assert evidence.summary["by_outcome"] == {"allow": 2, "deny": 3, "undefined": 0, "unknown": 0}
    assert evidence.summary["skipped_lines"] == 1
    assert evidence.effective_at == datetime(2024, 6, 3, 9, 10, 30, 777000, tzinfo=UTC)
    outcomes = {r["decision_id"][:8]: (r["path"], r["outcome"], r["messages"]) for r in evidence.records}
    assert outcomes["0f8f1d34"] == ("deploy/allow", "allow", [])
    assert outcomes["7a1c2e55"] == ("deploy", "deny", ["image is not signed", "image is not pinned by digest"])
    assert outcomes["b52d7c0a"][1] == "deny"
    assert outcomes["c0ffee00"] == ("terraform/deny", "allow", [])
    assert outcomes["d1e2f3a4"] == ("system/main", "deny", ["privileged containers are not allowed: shell"])
    first_line = json.loads(read("opa_decisions.jsonl").splitlines()[0])
    assert evidence.records[0]["input_sha256"] == input_sha256(first_line["input"])
    stored = json.dumps([evidence.summary, evidence.records])
    assert "production" not in stored and "AdmissionReview" not in stored  # raw inputs are never stored
    assert evidence.summary["bundles"] == {
        "deploy": ["c2a7f3e1"],
        "terraform": ["9f41d0b7"],
        "k8s": ["2024-06-01T00:00:00Z"],
    }


def test_opa_input_hash_is_canonical_json():
    assert input_sha256({"b": 1, "a": "é"}) == input_sha256({"a": "é", "b": 1})
    assert input_sha256({"b": 1, "a": "é"}) == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ({"path": "authz/allow", "result": "true"}, "allow"),  # as in OPA's documentation example
        ({"path": "authz/allow", "result": False}, "deny"),
        ({"path": "policy/deny", "result": True}, "deny"),
        ({"path": "policy/violation", "result": []}, "allow"),
        ({"path": "policy", "result": {"deny": ["no"]}}, "deny"),
        ({"path": "policy", "result": {"allowed": True}}, "allow"),
        ({"path": "policy/allow"}, "undefined"),
        ({"path": "policy/score", "result": 7}, "unknown"),
    ],
)
def test_opa_results_are_interpreted_as_documented(event, outcome):
    body = json.dumps([{"decision_id": "d", **event}]).encode()
    assert detect_format(body) == "opa"
    assert parse_opa(body).evidence[0].records[0]["outcome"] == outcome


def test_opa_bad_lines_are_named():
    with pytest.raises(ParseError, match="line 2"):
        parse_opa(b'{"decision_id": "a", "result": true}\n{broken\n')
    with pytest.raises(ParseError, match="no decision events"):
        parse_opa(b'{"level": "info", "msg": "Received request."}\n')
