"""The shipped GDPR, EU AI Act and SR 11-7 catalogs are complete for what an auditor tests: every Article or
section of the issue's list, each separate obligation a control with its citation, ids unique per framework
(issue 24)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from apps.policy.oscal import CATALOG_DIR, catalog_to_oscal, load_catalog, shipped_catalogs
from apps.policy.rulesets import load_rule_set

# Regulation (EU) 2016/679: the controller and processor obligations of issue 24, per Article the paragraphs
# (and points) that are separate obligations. Paragraphs addressed to Member States or supervisory
# authorities (e.g. 6(2), 6(3), 35(4)-(6)) are not controller obligations and are left out.
GDPR = {
    5: ["5(1)(a)", "5(1)(b)", "5(1)(c)", "5(1)(d)", "5(1)(e)", "5(1)(f)", "5(2)"],
    6: ["6(1)", "6(4)"],
    7: ["7(1)", "7(2)", "7(3)", "7(4)"],
    9: ["9(1)", "9(2)"],
    12: ["12(1)", "12(2)", "12(3)", "12(4)", "12(5)", "12(6)"],
    13: ["13(1)", "13(2)", "13(3)"],
    14: ["14(1)", "14(2)", "14(3)", "14(4)"],
    15: ["15(1)", "15(2)", "15(3)"],
    16: ["16"],
    17: ["17(1)", "17(2)"],
    18: ["18(1)", "18(3)"],
    19: ["19"],
    20: ["20(1)", "20(2)"],
    21: ["21(1)", "21(2)", "21(3)", "21(4)"],
    22: ["22(1)", "22(3)"],
    24: ["24(1)", "24(2)"],
    25: ["25(1)", "25(2)"],
    28: ["28(1)", "28(2)", "28(3)", *[f"28(3)({p})" for p in "abcdefgh"], "28(4)"],
    30: ["30(1)", "30(2)", "30(3)", "30(4)"],
    32: ["32(1)", *[f"32(1)({p})" for p in "abcd"], "32(2)", "32(4)"],
    33: ["33(1)", "33(2)", "33(3)", "33(5)"],
    34: ["34(1)", "34(2)"],
    35: ["35(1)", "35(2)", "35(3)", "35(7)", "35(9)", "35(11)"],
    37: ["37(1)", "37(5)", "37(7)"],
    38: ["38(1)", "38(2)", "38(3)"],
    39: ["39(1)"],
    44: ["44"],
    45: ["45(1)"],
    46: ["46(1)", "46(2)"],
    47: ["47(1)"],
    48: ["48"],
    49: ["49(1)"],
}
# Regulation (EU) 2024/1689: the high-risk obligations of issue 24; per Article its further paragraphs that
# are separate obligations (the Article's control states its first paragraph).
EU_AI_ACT = {
    9: ["9(2)", "9(5)", "9(6)", "9(8)", "9(9)"],
    10: ["10(2)", "10(3)", "10(4)", "10(5)"],
    11: [],
    12: ["12(2)"],
    13: ["13(2)", "13(3)"],
    14: ["14(2)", "14(4)"],
    15: ["15(3)", "15(4)", "15(5)"],
    17: [],
    18: [],
    19: [],
    20: ["20(2)"],
    26: ["26(2)", "26(4)", "26(5)", "26(6)", "26(7)", "26(9)", "26(11)"],
    27: ["27(3)"],
    43: ["43(2)", "43(4)"],
    47: ["47(2)", "47(4)"],
    48: ["48(2)", "48(3)"],
    49: ["49(3)"],
    72: ["72(2)", "72(3)"],
    73: ["73(2)", "73(3)", "73(4)", "73(6)"],
}
# SR 11-7 attachment: sections IV, V and VI; V's three key elements of validation and VI's seven subsections.
SR_11_7 = {
    "IV": ["purpose and design", "data", "testing", "implementation and use", "uncertainty"],
    "V": ["scope and rigor", "independence", "periodic review", "V.1", "V.2", "process verification and benchmarking",
          "V.3", "vendor and third-party products"],
    "VI": ["board of directors and senior management", "policies and procedures", "roles and responsibilities",
           "effective challenge", "internal audit", "external resources", "model inventory", "documentation"],
}  # fmt: skip


@pytest.fixture(scope="module")
def catalogs():
    return shipped_catalogs()


def _article(label: str) -> int:
    return int(re.match(r"^Art\. (\d+)", label).group(1))


def test_gdpr_has_every_obligation_of_every_article_in_order(catalogs):
    gdpr = catalogs["gdpr"]
    expected = [f"Art. {ref}" for refs in GDPR.values() for ref in refs]
    assert [c.label for c in gdpr.controls] == expected
    assert Counter(_article(c.label) for c in gdpr.controls) == {art: len(refs) for art, refs in GDPR.items()}
    assert set(GDPR) == {5, 6, 7, 9, *range(12, 23), 24, 25, 28, 30, *range(32, 36), 37, 38, 39, *range(44, 50)}
    assert len(gdpr.controls) == 98


def test_gdpr_points_are_sub_controls_of_their_paragraph(catalogs):
    gdpr = catalogs["gdpr"]
    assert [c.id for c in gdpr.controls if c.parent_id == "gdpr-32-1"] == [f"gdpr-32-1-{p}" for p in "abcd"]
    assert [c.id for c in gdpr.controls if c.parent_id == "gdpr-28-3"] == [f"gdpr-28-3-{p}" for p in "abcdefgh"]
    assert all(c.parent_id is None for c in gdpr.controls if c.id.startswith("gdpr-5-"))  # Art. 5(1) points stand alone


def test_gdpr_citations_resolve_to_their_article(catalogs):
    pattern = re.compile(r"^GDPR Art\. (\d+)(\((\d+)\))?(\(([a-h])\))?$")
    for control in catalogs["gdpr"].controls:
        match = pattern.match(control.prop("citation"))
        assert match, control.id
        assert control.prop("citation") == f"GDPR {control.label}"
        assert control.group_id == f"gdpr-art-{match.group(1)}"
        assert control.group_title.startswith(f"Article {match.group(1)}: ")
        assert control.id == "gdpr-" + "-".join(g for g in (match.group(1), match.group(3), match.group(5)) if g)


def test_eu_ai_act_has_every_article_with_its_separate_obligations(catalogs):
    act = catalogs["eu-ai-act"]
    articles = [c for c in act.controls if c.depth == 0]
    assert [c.label for c in articles] == [f"Art. {n}" for n in EU_AI_ACT]
    assert [c.id for c in articles] == [f"euai-art-{n}" for n in EU_AI_ACT]
    for article in articles:
        n = _article(article.label)
        assert [c.label for c in act.controls if c.parent_id == article.id] == [f"Art. {ref}" for ref in EU_AI_ACT[n]]
    assert len(act.controls) == len(EU_AI_ACT) + sum(map(len, EU_AI_ACT.values())) == 58


def test_eu_ai_act_citations_resolve_to_their_article_and_chapter(catalogs):
    pattern = re.compile(r"^EU AI Act Art\. (\d+)(\((\d+)\))?$")
    groups = {"euai-high-risk": range(9, 16), "euai-providers-deployers": (17, 18, 19, 20, 26, 27),
              "euai-conformity": (43, 47, 48, 49), "euai-post-market": (72, 73)}  # fmt: skip
    for control in catalogs["eu-ai-act"].controls:
        match = pattern.match(control.prop("citation"))
        assert match and control.prop("citation") == f"EU AI Act {control.label}", control.id
        assert int(match.group(1)) in groups[control.group_id]
        assert control.id == "euai-art-" + "-".join(g for g in (match.group(1), match.group(3)) if g)


def test_sr_11_7_has_every_section_and_subsection(catalogs):
    sr = catalogs["sr-11-7"]
    found: dict[str, list[str]] = {}
    for control in sr.controls:
        match = re.match(r"^SR 11-7 §(IV|VI|V)(\.\d)?(?: \((.+)\))?$", control.label) or re.match(
            r"^SR 11-7 §III, §(VI) \((.+)\)$", control.label
        )
        assert match, control.label
        section = match.group(1)
        topic = match.groups()[-1] or f"V{match.group(2)}"
        found.setdefault(section, []).append(topic)
        assert control.prop("citation") == control.label
        assert control.group_id == {"IV": "sr117-dev", "V": "sr117-val", "VI": "sr117-gov"}[section]
    assert found == SR_11_7
    assert len(sr.controls) == 21


@pytest.mark.parametrize("code", ["gdpr", "eu-ai-act", "sr-11-7"])
def test_every_control_has_a_citation_a_statement_and_an_id_unique_in_its_framework(catalogs, code):
    spec = catalogs[code]
    ids = spec.control_ids()
    assert len(ids) == len(set(ids))
    for control in spec.controls:
        assert control.prop("citation"), control.id
        assert len(control.description) >= 20, control.id
    citations = [c.prop("citation") for c in spec.controls]
    assert len(citations) == len(set(citations))


def test_statements_quote_the_official_text(catalogs):
    gdpr, act, sr = catalogs["gdpr"], catalogs["eu-ai-act"], catalogs["sr-11-7"]
    assert gdpr.get("gdpr-32-1-a").description == "the pseudonymisation and encryption of personal data;"
    assert "not later than 72 hours after having become aware of it" in gdpr.get("gdpr-33-1").description
    assert gdpr.get("gdpr-5-2").description.startswith("The controller shall be responsible for, and be able")
    assert "of at least six months" in act.get("euai-art-19").description
    assert "not later than 15 days" in act.get("euai-art-73-2").description
    assert "at least annually but more frequently if warranted" in sr.get("sr117-mon-2").description


def test_metadata_names_the_source_and_the_eu_reuse_attribution():
    remarks = {
        code: json.loads((CATALOG_DIR / f"{code}.json").read_text())["catalog"]["metadata"]["remarks"]
        for code in ("gdpr", "eu-ai-act", "sr-11-7")
    }
    for code in ("gdpr", "eu-ai-act"):
        assert "European Union" in remarks[code] and "2011/833/EU" in remarks[code]
        assert "abridged" in remarks[code] and "[...]" in remarks[code]
    assert "public domain" in remarks["sr-11-7"]


def test_the_controls_rules_named_before_keep_their_ids(catalogs):
    named = {c for r in load_rule_set() for c in r.controls}
    for code, prefix in (("gdpr", "gdpr-"), ("eu-ai-act", "euai-"), ("sr-11-7", "sr117-")):
        mine = {c for c in named if c.startswith(prefix)}
        assert mine and mine <= set(catalogs[code].control_ids()), code
    # ids outside rules: exceptions and engagements name this one
    assert catalogs["gdpr"].get("gdpr-35-1").label == "Art. 35(1)"


@pytest.mark.parametrize("code", ["gdpr", "eu-ai-act", "sr-11-7"])
def test_the_file_and_its_export_validate_against_the_oscal_schema(catalogs, code):
    models = pytest.importorskip("oscal_bindings.v1.models")
    models.CatalogDocument.model_validate(json.loads((CATALOG_DIR / f"{code}.json").read_text()))
    exported = catalog_to_oscal(catalogs[code])
    models.CatalogDocument.model_validate(exported)
    assert load_catalog(exported) == catalogs[code]
