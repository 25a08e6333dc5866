"""The shipped HIPAA Security Rule catalog is complete: every standard and implementation specification of
45 CFR 164.308, 164.310, 164.312, 164.314 and 164.316, cited, required or addressable (issue 24)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from apps.policy.oscal import CATALOG_DIR, catalog_to_oscal, load_catalog, shipped_catalogs
from apps.policy.rulesets import load_rule_set

# The official list (45 CFR Part 164 Subpart C; the HHS Security Rule matrix, Appendix A):
# standards per section, and each standard's implementation specifications with R(equired)/A(ddressable).
OFFICIAL = {
    "164.308": {
        "164.308(a)(1)": "RRRR",  # risk analysis, risk management, sanction policy, system activity review
        "164.308(a)(2)": "",  # assigned security responsibility
        "164.308(a)(3)": "AAA",  # authorization/supervision, clearance, termination
        "164.308(a)(4)": "RAA",  # clearinghouse isolation, access authorization, establishment/modification
        "164.308(a)(5)": "AAAA",  # reminders, malicious software, log-in monitoring, passwords
        "164.308(a)(6)": "R",  # response and reporting
        "164.308(a)(7)": "RRRAA",  # backup, disaster recovery, emergency mode, testing, criticality
        "164.308(a)(8)": "",  # evaluation
        "164.308(b)(1)": "R",  # written contract or other arrangement, (b)(3)
    },
    "164.310": {
        "164.310(a)(1)": "AAAA",  # contingency operations, facility plan, access validation, maintenance
        "164.310(b)": "",  # workstation use
        "164.310(c)": "",  # workstation security
        "164.310(d)(1)": "RRAA",  # disposal, media re-use, accountability, backup and storage
    },
    "164.312": {
        "164.312(a)(1)": "RRAA",  # unique user id, emergency access, automatic logoff, encryption
        "164.312(b)": "",  # audit controls
        "164.312(c)(1)": "A",  # mechanism to authenticate ePHI
        "164.312(d)": "",  # person or entity authentication
        "164.312(e)(1)": "AA",  # integrity controls, encryption
    },
    "164.314": {
        "164.314(a)(1)": "RRR",  # business associate contracts, other arrangements, subcontractors
        "164.314(b)(1)": "RRRR",  # group health plan documents, (b)(2)(i)-(iv)
    },
    "164.316": {
        "164.316(a)": "",  # policies and procedures
        "164.316(b)(1)": "RRR",  # time limit, availability, updates
    },
}


@pytest.fixture(scope="module")
def hipaa():
    return shipped_catalogs()["hipaa"]


def test_each_section_has_the_official_number_of_standards(hipaa):
    standards = [c for c in hipaa.controls if c.prop("requirement-type") == "standard"]
    per_section = Counter(c.label.split("(")[0] for c in standards)
    assert per_section == {"164.308": 9, "164.310": 4, "164.312": 5, "164.314": 2, "164.316": 2}
    assert all(c.depth == 0 for c in standards)


def test_every_standard_has_exactly_its_implementation_specifications_required_or_addressable(hipaa):
    found = {}
    for standard in (c for c in hipaa.controls if c.depth == 0):
        section = standard.label.split("(")[0]
        specs = [c for c in hipaa.controls if c.parent_id == standard.id]
        assert all(c.prop("requirement-type") == "implementation-specification" for c in specs)
        found.setdefault(section, {})[standard.label] = "".join(c.prop("implementation")[0].upper() for c in specs)
        for spec in specs:
            kind = spec.prop("implementation")
            assert spec.title.endswith(f"({kind.capitalize()})"), spec.id  # as the regulation writes it
    assert found == OFFICIAL
    assert len(hipaa.controls) == 22 + 46


def test_every_citation_resolves_to_a_paragraph_of_its_section(hipaa):
    pattern = re.compile(r"^45 CFR (164\.3(08|10|12|14|16))(\([a-e]\))(\(\d\))?(\((i|ii|iii|iv)\))?(\([A-E]\))?$")
    seen = set()
    for control in hipaa.controls:
        citation = control.prop("citation")
        match = pattern.match(citation)
        assert match, citation
        assert citation == f"45 CFR {control.label}" and citation not in seen
        seen.add(citation)
        assert control.group_id == "hipaa-" + match.group(1).replace(".", "-")
        parent = hipaa.get(control.parent_id) if control.parent_id else None
        if parent and control.label != "164.308(b)(3)":  # (b)(3) specifies the (b)(1) standard
            assert control.label.startswith(parent.label.rsplit("(", 1)[0]), control.label


def test_statements_are_the_regulation_text(hipaa):
    assert hipaa.get("hipaa-164-308-a-1-ii-a").description.startswith(
        "Conduct an accurate and thorough assessment of the potential risks and vulnerabilities"
    )
    assert hipaa.get("hipaa-164-312-a-2-i").description == (
        "Assign a unique name and/or number for identifying and tracking user identity."
    )
    assert "6 years" in hipaa.get("hipaa-164-316-b-2-i").description


def test_the_controls_rules_named_before_keep_their_ids(hipaa):
    rules = load_rule_set()
    named = {c for r in rules for c in r.controls if c.startswith("hipaa-")}
    assert named and named <= set(hipaa.control_ids())
    assert {"hipaa-164-312-a", "hipaa-164-312-a-2-iv", "hipaa-164-312-e-2-ii"} <= named


def test_the_export_keeps_citations_and_validates_against_the_oscal_schema(hipaa):
    models = pytest.importorskip("oscal_bindings.v1.models")
    exported = catalog_to_oscal(hipaa)
    models.CatalogDocument.model_validate(exported)
    assert load_catalog(exported) == hipaa
    text = json.dumps(exported)
    assert '"45 CFR 164.308(a)(1)(ii)(A)"' in text and '"addressable"' in text
    models.CatalogDocument.model_validate(json.loads((CATALOG_DIR / "hipaa.json").read_text()))
