"""The shipped SOC 2 catalog has every Trust Services Criterion (2017, revised points of focus 2022): CC1-CC9,
A1, C1, PI1 and P1-P8 with their identifiers and short descriptions of our own (issue 24)."""

from __future__ import annotations

import json

import pytest

from apps.policy.oscal import CATALOG_DIR, catalog_to_oscal, load_catalog, shipped_catalogs
from apps.policy.rulesets import load_rule_set

# criteria per series in the 2017 Trust Services Criteria
OFFICIAL = {
    "CC1": 5, "CC2": 3, "CC3": 4, "CC4": 2, "CC5": 3, "CC6": 8, "CC7": 5, "CC8": 1, "CC9": 2,
    "A1": 3, "C1": 2, "PI1": 5,
    "P1": 1, "P2": 1, "P3": 2, "P4": 3, "P5": 2, "P6": 7, "P7": 1, "P8": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def soc2():
    return shipped_catalogs()["soc2"]


def test_every_criterion_of_every_series_is_there_in_order(soc2):
    expected = [f"{series}.{n}" for series, count in OFFICIAL.items() for n in range(1, count + 1)]
    assert [c.label for c in soc2.controls] == expected
    assert len(soc2.controls) == 61
    for control in soc2.controls:
        series, n = control.label.split(".")
        assert control.id == f"soc2-{series.lower()}-{n}"
        assert control.group_id == f"soc2-{series.lower()}" and control.group_title.startswith(f"{series}: ")
        assert control.prop("citation").endswith(control.label)


def test_descriptions_are_short_summaries_not_the_licensed_text(soc2):
    for control in soc2.controls:
        assert 20 <= len(control.description) <= 200, control.id
        assert "COSO Principle" not in control.description  # the AICPA text cites COSO principles
    assert "not the AICPA text" in json.loads((CATALOG_DIR / "soc2.json").read_text())["catalog"]["metadata"]["remarks"]


def test_the_criteria_rules_name_keep_their_ids_and_wording(soc2):
    named = {c for r in load_rule_set() for c in r.controls if c.startswith("soc2-")}
    assert named and named <= set(soc2.control_ids())
    assert soc2.get("soc2-cc8-1").title == "Authorised, tested and approved changes"


def test_categories_split_security_from_the_additional_criteria(soc2):
    categories = {c.label.split(".")[0]: c.prop("category") for c in soc2.controls}
    assert categories["CC6"] == "security" and categories["A1"] == "availability"
    assert categories["C1"] == "confidentiality" and categories["PI1"] == "processing-integrity"
    assert {categories[f"P{n}"] for n in range(1, 9)} == {"privacy"}


def test_the_export_validates_against_the_oscal_schema(soc2):
    models = pytest.importorskip("oscal_bindings.v1.models")
    exported = catalog_to_oscal(soc2)
    models.CatalogDocument.model_validate(exported)
    assert load_catalog(exported) == soc2
