"""Shipped framework catalogs: valid OSCAL, loaded into CatalogSpec, round-tripped."""

from __future__ import annotations

import copy
import json

import pytest

from apps.policy.oscal import (
    CATALOG_DIR,
    TOKEN_RE,
    OscalError,
    catalog_to_oscal,
    load_catalog,
    shipped_catalogs,
)

CATALOG_FILES = sorted(CATALOG_DIR.glob("*.json"))
# apps/inventory/models.py FrameworkCode values: a system's frameworks must match a catalog
FRAMEWORK_CODES = {"hipaa", "gdpr", "soc2", "eu-ai-act", "sr-11-7"}


def _bindings():
    return pytest.importorskip("oscal_bindings.v1.models", reason="oscal-bindings validates against the NIST schema")


def test_every_inventory_framework_has_a_shipped_catalog():
    assert set(shipped_catalogs()) == FRAMEWORK_CODES
    assert {p.stem for p in CATALOG_FILES} == FRAMEWORK_CODES


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_shipped_catalog_is_valid_against_the_official_oscal_schema(path):
    models = _bindings()
    models.CatalogDocument.model_validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_shipped_catalog_loads_with_labels_descriptions_and_token_ids(path):
    spec = load_catalog(path.read_bytes())
    assert spec.code == path.stem
    assert spec.oscal_version.startswith("1.1.")
    assert len(spec.controls) >= 7
    assert [c.order for c in spec.controls] == list(range(1, len(spec.controls) + 1))
    for control in spec.controls:
        assert TOKEN_RE.match(control.id)
        assert control.label and control.label != control.id
        # the regulations' own text (abridged where long) runs to a paragraph; SOC 2 has short descriptions
        assert 20 <= len(control.description) <= (400 if spec.code == "soc2" else 900), control.id
        assert control.group_id and control.group_title


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_catalog_round_trips_through_spec_and_back(path):
    spec = load_catalog(path.read_bytes())
    exported = catalog_to_oscal(spec)
    assert load_catalog(exported) == spec
    assert load_catalog(json.dumps(exported).encode()) == spec
    models = _bindings()
    models.CatalogDocument.model_validate(exported)


def test_hipaa_access_control_has_its_implementation_specifications_as_sub_controls():
    spec = shipped_catalogs()["hipaa"]
    parent = spec.get("hipaa-164-312-a")
    assert parent.label == "164.312(a)(1)" and parent.title == "Access control" and parent.parent_id is None
    children = [c for c in spec.controls if c.parent_id == "hipaa-164-312-a"]
    assert [c.label for c in children] == [
        "164.312(a)(2)(i)",
        "164.312(a)(2)(ii)",
        "164.312(a)(2)(iii)",
        "164.312(a)(2)(iv)",
    ]
    assert all(c.depth == 1 for c in children)
    assert {c.id for c in spec.controls if c.depth == 0 and c.group_id == "hipaa-164-312"} == {
        "hipaa-164-312-a",
        "hipaa-164-312-b",
        "hipaa-164-312-c",
        "hipaa-164-312-d",
        "hipaa-164-312-e",
    }


def test_each_framework_carries_the_controls_named_in_the_issue():
    catalogs = shipped_catalogs()
    labels = {code: {c.label for c in spec.controls} for code, spec in catalogs.items()}
    assert {"Art. 5(1)(f)", "Art. 5(2)", "Art. 25(1)", "Art. 30(1)", "Art. 32(1)", "Art. 35(1)"} <= labels["gdpr"]
    assert {f"CC6.{n}" for n in range(1, 9)} | {f"CC7.{n}" for n in range(1, 6)} | {"CC8.1"} <= labels["soc2"]
    assert {f"Art. {n}" for n in range(9, 16)} <= labels["eu-ai-act"]
    sr = {c.title for c in catalogs["sr-11-7"].controls}
    assert {"Evaluation of conceptual soundness", "Ongoing monitoring", "Outcomes analysis", "Model inventory"} <= sr
    assert {"Documentation", "Effective challenge"} <= sr


def _minimal() -> dict:
    return {
        "catalog": {
            "uuid": "8c1b0f6e-1d2a-4c3b-9e8f-0a1b2c3d4e5f",
            "metadata": {
                "title": "Our Framework",
                "last-modified": "2024-05-01T10:00:00Z",
                "version": "1",
                "oscal-version": "1.1.2",
            },
            "controls": [{"id": "ctl-1", "title": "Encrypt", "parts": [{"name": "statement", "prose": "Do it."}]}],
        }
    }


def test_a_catalog_without_groups_or_framework_code_gets_a_code_from_its_title():
    spec = load_catalog(_minimal())
    assert spec.code == "our-framework"
    assert spec.controls[0].label == "ctl-1" and spec.controls[0].group_id is None
    assert load_catalog(_minimal(), code="ours").code == "ours"
    assert load_catalog(catalog_to_oscal(spec)) == spec


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d.pop("catalog"), "$", 'required property "catalog" is missing'),
        (lambda d: d["catalog"].pop("uuid"), "$.catalog", 'required property "uuid"'),
        (lambda d: d["catalog"].__setitem__("uuid", "not-a-uuid"), "$.catalog.uuid", "UUID"),
        (lambda d: d["catalog"]["metadata"].pop("version"), "$.catalog.metadata", '"version"'),
        (
            lambda d: d["catalog"]["metadata"].__setitem__("last-modified", "2024-05-01T10:00:00"),
            "$.catalog.metadata.last-modified",
            "time zone",
        ),
        (
            lambda d: d["catalog"]["metadata"].__setitem__("oscal-version", "2.0.0"),
            "$.catalog.metadata.oscal-version",
            "1.x",
        ),
        (
            lambda d: d["catalog"]["controls"][0].__setitem__("id", "1-starts-with-digit"),
            "$.catalog.controls[0].id",
            "token",
        ),
        (lambda d: d["catalog"]["controls"][0].pop("title"), "$.catalog.controls[0]", '"title"'),
        (
            lambda d: d["catalog"]["controls"].append(copy.deepcopy(d["catalog"]["controls"][0])),
            "$.catalog.controls[1].id",
            "already used",
        ),
        (lambda d: d["catalog"].__setitem__("controls", []), "$.catalog.controls", "at least 1"),
        (lambda d: d["catalog"]["controls"][0]["parts"][0].pop("name"), "$.catalog.controls[0].parts[0]", '"name"'),
        (lambda d: d["catalog"].__setitem__("colour", "red"), "$.catalog", "unexpected property 'colour'"),
        (
            lambda d: d["catalog"]["controls"][0].__setitem__("props", [{"name": "label", "value": " "}]),
            "$.catalog.controls[0].props[0].value",
            "non-empty",
        ),
    ],
)
def test_invalid_catalogs_are_refused_with_the_path_and_the_problem(mutate, path, words):
    doc = _minimal()
    mutate(doc)
    with pytest.raises(OscalError) as caught:
        load_catalog(doc)
    assert caught.value.path == path
    assert words in caught.value.problem


def test_bytes_that_are_not_json_are_refused_with_line_and_column():
    with pytest.raises(OscalError, match=r"not valid JSON .* line 1 column 2"):
        load_catalog(b"{oops")
    with pytest.raises(OscalError, match="not UTF-8"):
        load_catalog(b"\xff\xfe\x00")
    with pytest.raises(OscalError, match="must be an object, got an array"):
        load_catalog(b"[]")
