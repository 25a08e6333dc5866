"""Property tests: any bytes give a ParseResult or a ParseError, never another exception."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.formats import ParseError, ParseResult, detect_format, parse_upload, parse_webhook
from apps.formats.cyclonedx import parse_cyclonedx
from apps.formats.intoto import parse_intoto
from apps.formats.junit import parse_junit
from apps.formats.mlreports import parse_metrics, parse_model_card
from apps.formats.sarif import parse_sarif
from apps.formats.spdx import parse_spdx
from apps.formats.subjects import normalize_subject

DATA = Path(__file__).parent / "data"
UPLOAD_PARSERS = {
    "junit": (parse_junit, "junit_pytest.xml"),
    "sarif": (parse_sarif, "ruff_check.sarif"),
    "cyclonedx-json": (parse_cyclonedx, "cyclonedx_py_env.cdx.json"),
    "cyclonedx-xml": (parse_cyclonedx, "cyclonedx_py_env.cdx.xml"),
    "spdx": (parse_spdx, "sbom4python_requests.spdx.json"),
    "spdx-tag-value": (parse_spdx, "sbom4python_requests.spdx"),
    "sarif-bandit": (parse_sarif, "bandit_shell_md5.sarif"),
    "junit-node": (parse_junit, "node_test_junit.xml"),
    "intoto": (parse_intoto, "dsse_slsa_v1.intoto.json"),
    "model-card": (parse_model_card, "hf_model_card_data.json"),
    "metrics": (parse_metrics, "fairlearn_report.json"),
}
WEBHOOKS = [
    ("github", "workflow_run", "github/workflow_run.completed.json"),
    ("github", "workflow_job", "github/workflow_job.completed.failure.json"),
    ("github", "package", "github/package.published.npm.json"),
    ("github", "deployment_status", "github/deployment_status.created.json"),
    ("github", "status", "github/status.success.json"),
    ("gitlab", "Pipeline Hook", "gitlab/pipeline_hook.json"),
    ("gitlab", "Deployment Hook", "gitlab/deployment_hook.json"),
]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(call, *args):
    """Run a parser; only a ParseResult or a ParseError is an acceptable outcome."""
    try:
        result = call(*args)
    except ParseError as exc:
        assert str(exc)
        return None
    assert isinstance(result, ParseResult)
    for evidence in result.evidence:
        json.dumps(evidence.summary, allow_nan=False)
        json.dumps(evidence.records, allow_nan=False)
    return result


@st.composite
def mutated(draw, original: bytes):
    """Flip, insert, delete and truncate bytes of a real fixture."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        else:  # structural characters are the interesting ones
            data[pos:pos] = draw(
                st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"<", b">", b"null", b"1e999", b"-", b"\x00"])
            )
    return bytes(data)


@pytest.mark.parametrize("name", sorted(UPLOAD_PARSERS))
@FUZZ
@given(data=st.data())
def test_upload_parsers_survive_random_and_mutated_bytes(name, data):
    parser, fixture = UPLOAD_PARSERS[name]
    body = data.draw(st.one_of(st.binary(max_size=300), mutated((DATA / fixture).read_bytes())))
    outcome(parser, body)
    assert isinstance(detect_format(body), str)
    outcome(parse_upload, body)


@pytest.mark.parametrize(("provider", "event", "fixture"), WEBHOOKS)
@FUZZ
@given(data=st.data())
def test_webhook_parsers_survive_random_and_mutated_bytes(provider, event, fixture, data):
    body = data.draw(st.one_of(st.binary(max_size=200), mutated((DATA / fixture).read_bytes())))
    outcome(parse_webhook, provider, event, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


@pytest.mark.parametrize("name", sorted(UPLOAD_PARSERS))
@FUZZ
@given(data=st.data())
def test_upload_parsers_survive_fixture_json_with_values_replaced(name, data):
    """Same keys, wrong types: the kind of input that trips KeyError/TypeError."""
    parser, fixture = UPLOAD_PARSERS[name]
    raw = (DATA / fixture).read_bytes()
    if not raw.lstrip().startswith((b"{", b"[")):  # XML, SPDX tag-value
        return
    doc = json.loads(raw)
    paths = []
    stack = [(doc, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            paths.append((*path, key))
            stack.append((value, (*path, key)))
    path = data.draw(st.sampled_from(paths))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    outcome(parser, json.dumps(doc).encode())


@FUZZ
@given(
    event=st.sampled_from(
        [
            "workflow_run",
            "workflow_job",
            "check_run",
            "check_suite",
            "deployment",
            "deployment_status",
            "release",
            "push",
            "package",
            "registry_package",
            "ping",
            "star",
        ]
    ),
    value=json_values,
)
def test_github_events_survive_wrong_shapes(event, value):
    outcome(parse_webhook, "github", event, json.dumps({event: value, "repository": value, "sender": value}).encode())


@FUZZ
@given(text=st.text(max_size=80))
@example(text="0:/")  # 'ghcr.io/0:/@sha256:…' once kept the colon of its empty tag, unstable on re-reading
def test_normalize_subject_gives_a_subject_or_a_parse_error(text):
    for candidate in (
        text,
        "pkg:" + text,
        "git+https://github.com/" + text,
        "mlflow://" + text,
        "ghcr.io/" + text + "@sha256:" + "a" * 64,
    ):
        try:
            subject = normalize_subject(candidate)
        except ParseError:
            continue
        assert subject.uri and len(subject.uri) <= 2048 + 100
        assert normalize_subject(subject.uri).uri == subject.uri  # canonical forms are stable


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuite name="&lol9;"><testcase name="x"/></testsuite>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="&xxe;"><testcase name="x"/></testsuite>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE bom SYSTEM "http://example.invalid/bom.dtd">
<bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
@pytest.mark.parametrize("parser", [parse_junit, parse_cyclonedx])
def test_xml_bombs_and_external_entities_are_parse_errors(parser, body):
    with pytest.raises(ParseError, match="DTD or entities"):
        parser(body)


@pytest.mark.parametrize(
    "parser", [parse_sarif, parse_cyclonedx, parse_spdx, parse_intoto, parse_metrics, parse_model_card]
)
def test_deeply_nested_json_and_huge_numbers_are_parse_errors(parser):
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"version": ' + b"9" * 5000 + b"}",
    ):
        with pytest.raises(ParseError):
            parser(body)
    outcome(parser, b'{"version": "2.1.0", "runs": [], "metrics": {"auc": 1e999}}')


def test_deeply_nested_xml_is_handled():
    body = b"<testsuites>" + b"<testsuite>" * 50_000 + b"</testsuite>" * 50_000 + b"</testsuites>"
    outcome(parse_junit, body)
    assert detect_format(body) == "junit"
