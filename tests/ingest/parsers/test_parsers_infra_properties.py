"""Property tests for the infrastructure and data parsers: only a ParseResult or a ParseError, ever."""

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.formats import PARSERS, ParseError, ParseResult, detect_format, parse_upload
from apps.formats.checkov import parse_checkov
from apps.formats.drift import parse_drift
from apps.formats.dvc import parse_dvc
from apps.formats.fairness import parse_fairness
from apps.formats.great_expectations import parse_great_expectations
from apps.formats.kubernetes import parse_kubernetes
from apps.formats.opa import parse_opa
from apps.formats.terraform import parse_terraform
from apps.formats.yamlsafe import load_yaml_documents

INFRA = Path(__file__).parent / "data" / "infra"
PARSER_FIXTURES = {
    "terraform-plan": (parse_terraform, "terraform_plan.json"),
    "terraform-state": (parse_terraform, "terraform_state.json"),
    "kubernetes-yaml": (parse_kubernetes, "k8s_workloads.yaml"),
    "checkov-list": (parse_checkov, "checkov_tf_k8s.json"),
    "checkov-single": (parse_checkov, "checkov_terraform.json"),
    "gx-validation": (parse_great_expectations, "gx_validation_result.json"),
    "gx-checkpoint": (parse_great_expectations, "gx_checkpoint_result.json"),
    "evidently": (parse_drift, "evidently_drift_report.json"),
    "evidently-legacy": (parse_drift, "evidently_legacy_drift_report.json"),
    "fairlearn": (parse_fairness, "fairlearn_metricframe.json"),
    "fairlearn-by-group": (parse_fairness, "fairlearn_by_group.json"),
    "fairlearn-by-group-table": (parse_fairness, "fairlearn_by_group_two_features_table.json"),
    "terraform-plan-0.1": (parse_terraform, "terraform_plan_0.1.json"),
    "dvc-lock": (parse_dvc, "dvc.lock"),
    "dvc-file": (parse_dvc, "patients.csv.dvc"),
    "opa": (parse_opa, "opa_decisions.jsonl"),
}
JSON_FIXTURES = sorted(name for name, (_, fixture) in PARSER_FIXTURES.items() if fixture.endswith(".json"))
YAML_FIXTURES = ["kubernetes-yaml", "dvc-lock", "dvc-file"]
NEW_PARSERS = sorted({parser for parser, _ in PARSER_FIXTURES.values()}, key=lambda p: p.__name__)
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
        assert evidence.verdict in ("pass", "fail", "info")
        assert evidence.effective_at is None or evidence.effective_at.tzinfo is not None
        for subject in evidence.subjects:
            assert subject.uri
        for edge in evidence.edges:
            assert edge.source.uri != edge.target.uri
    return result


@st.composite
def mutated(draw, original: bytes):
    """Flip, insert, delete, truncate and splice structural characters into a real fixture."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        else:  # JSON and YAML structure: brackets, quotes, anchors, aliases, tags, document markers
            data[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b'"',
                        b"null",
                        b"1e999",
                        b"-",
                        b"\x00",
                        b": ",
                        b"\n- ",
                        b"&a ",
                        b"*a",
                        b"!!python/object:os.system ",
                        b"\n---\n",
                        b"\t",
                        b"? ",
                        b"!!binary ",
                        b"'",
                    ]
                )
            )
    return bytes(data)


@pytest.mark.parametrize("name", sorted(PARSER_FIXTURES))
@FUZZ
@given(data=st.data())
def test_new_parsers_survive_random_and_mutated_bytes(name, data):
    parser, fixture = PARSER_FIXTURES[name]
    body = data.draw(st.one_of(st.binary(max_size=300), mutated((INFRA / fixture).read_bytes())))
    outcome(parser, body)
    fmt = detect_format(body)
    assert isinstance(fmt, str)
    assert fmt in PARSERS or fmt == "generic"
    outcome(parse_upload, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def _replace_somewhere(doc, data):
    paths = []
    stack = [(doc, ())]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            paths.append((*path, key))
            stack.append((value, (*path, key)))
    if not paths:
        return doc
    path = data.draw(st.sampled_from(paths))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    return doc


@pytest.mark.parametrize("name", JSON_FIXTURES)
@FUZZ
@given(data=st.data())
def test_new_parsers_survive_fixture_json_with_values_replaced(name, data):
    """Same keys, wrong types: the kind of input that trips KeyError/TypeError."""
    parser, fixture = PARSER_FIXTURES[name]
    doc = _replace_somewhere(json.loads((INFRA / fixture).read_bytes()), data)
    body = json.dumps(doc).encode()
    outcome(parser, body)
    assert isinstance(detect_format(body), str)
    outcome(parse_upload, body)


@pytest.mark.parametrize("name", YAML_FIXTURES)
@FUZZ
@given(data=st.data())
def test_yaml_parsers_survive_fixture_yaml_with_values_replaced(name, data):
    parser, fixture = PARSER_FIXTURES[name]
    docs = [d for d in yaml.safe_load_all((INFRA / fixture).read_bytes()) if d is not None]
    docs = [_replace_somewhere(doc, data) for doc in docs]
    body = yaml.safe_dump_all(docs).encode()
    outcome(parser, body)
    assert isinstance(detect_format(body), str)


@FUZZ
@given(
    events=st.lists(
        st.dictionaries(
            st.sampled_from(["decision_id", "path", "result", "input", "timestamp", "labels", "bundles", "erased"]),
            json_values,
        ),
        max_size=5,
    )
)
def test_opa_survives_arbitrary_events(events):
    body = b"\n".join(json.dumps(event).encode() for event in events)
    outcome(parse_opa, body)
    outcome(parse_opa, json.dumps(events).encode())


@FUZZ
@given(value=json_values)
def test_terraform_survives_arbitrary_resources(value):
    for doc in (
        {
            "format_version": "1.0",
            "values": {"root_module": {"resources": [{"type": "aws_s3_bucket", "values": value}]}},
        },
        {"format_version": "1.2", "planned_values": value, "configuration": value},
        {"format_version": "1.2", "resource_changes": [{"type": "aws_lb_listener", "change": {"after": value}}]},
    ):
        outcome(parse_terraform, json.dumps(doc).encode())


BILLION_LAUGHS_YAML = b"""a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
apiVersion: v1
kind: Pod
"""
MANY_ALIASES = b"a: &a x\nb: [" + b",".join([b"*a"] * 1500) + b"]\napiVersion: v1\nkind: Pod\n"
SELF_REFERENCE = b"spec: &s\n  containers: *s\napiVersion: v1\nkind: Pod\n"
UNSAFE_TAG = b"apiVersion: v1\nkind: !!python/object/apply:os.system ['true']\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BILLION_LAUGHS_YAML, "expands to more than"),
        (MANY_ALIASES, "more than 1,000 aliases"),
        (SELF_REFERENCE, "contains itself"),
        (UNSAFE_TAG, "not valid YAML"),
    ],
)
@pytest.mark.parametrize("parser", [parse_kubernetes, parse_dvc])
def test_yaml_bombs_cycles_and_unsafe_tags_are_parse_errors(parser, body, message):
    with pytest.raises(ParseError, match=message):
        parser(body)


def test_a_few_honest_aliases_are_fine():
    docs = load_yaml_documents(b"base: &base {cpu: 1}\nother: *base\n", "test")
    assert docs == [{"base": {"cpu": 1}, "other": {"cpu": 1}}]


def test_oversized_yaml_is_refused_before_parsing():
    with pytest.raises(ParseError, match="the limit is"):
        parse_kubernetes(b"a: " + b"x" * (8 * 1024 * 1024 + 1))


@pytest.mark.parametrize("parser", NEW_PARSERS)
def test_deeply_nested_input_and_huge_numbers_are_parse_errors_or_results(parser):
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"format_version": ' + b"9" * 5000 + b"}",
        b"- " * 5_000 + b"x",
        b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 3000)),
    ):
        outcome(parser, body)
    outcome(
        parser, b'{"format_version": "1.0", "values": {"root_module": {"resources": [{"values": {"size": 1e999}}]}}}'
    )
