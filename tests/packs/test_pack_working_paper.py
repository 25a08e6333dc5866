"""Issue 19, gap 6: the pack states facts as of the period's end, holds only its scope, and is a working paper.

Statuses as of the end of the period (from the results' history), only the scope's evidence (not that
of another system sharing a subject), an evidence chart with a real time axis, a readable ledger table
(the JSON in the ZIP), evidence in folders per control with readable names, an index spreadsheet
(XLSX and CSV), and the PDF downloadable on its own — and the pack still verifies."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import zipfile
from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.packs.content import pack_content
from apps.packs.scope import scope_parse
from tests.ingest.conftest import COMMIT, fixture_bytes


def _other_systems_evidence_on_the_shared_subject(scenario):
    """Evidence of another system about the credit system's commit, newer than the credit system's own.

    Its unbound source is allowed for credit too, so policy counts it there (issue 17): the pack must
    still keep the other system's evidence out of a credit pack."""
    from apps.accounts.roles import Role
    from apps.accounts.services import user_create
    from apps.evidence.models import Evidence
    from apps.ingest.services import receipt_accept, receipt_parse, source_allow_system, source_create
    from apps.inventory.models import System
    from apps.policy.services import policy_evaluate

    other = System.objects.get(slug="other")
    source = source_create(actor="system:test", kind="generic-ci", name="ci shared").source
    admin = user_create(username="pack-admin", password=None, roles=[Role.ADMIN])
    source_allow_system(actor=admin, source_id=source.pk, system=scenario["system"], reason="shared CI")
    receipt, _ = receipt_accept(source=source, channel="upload", body=fixture_bytes("junit_pytest.xml"),
                                subject=COMMIT, filename="junit_pytest.xml", system=other, enqueue=False)
    receipt_parse(receipt_id=receipt.pk)
    policy_evaluate(system_ids=[scenario["system"].pk])
    return list(Evidence.objects.filter(receipt=receipt))


@pytest.mark.django_db
def test_a_system_pack_holds_no_evidence_of_another_system_sharing_a_subject(scenario, officer):
    from apps.policy.models import ControlResult

    foreign = _other_systems_evidence_on_the_shared_subject(scenario)
    foreign_ids = {e.pk for e in foreign}
    referenced = {int(i) for r in ControlResult.objects.filter(system=scenario["system"]) for i in r.evidence_ids}
    assert referenced & foreign_ids, "the reproduction: a credit result now names the other system's evidence"
    scope = scope_parse(user=officer, kind="system", params={"system": "credit", **scenario["period"]})
    content = pack_content(user=officer, scope=scope)
    assert not set(content.evidence) & foreign_ids
    assert {item.system for item in content.evidence.values()} == {"Credit"}
    for control in content.controls:
        assert not set(control.evidence_ids) & foreign_ids


@pytest.mark.django_db
def test_a_system_pack_states_statuses_as_of_the_end_of_its_period(scenario, officer):
    from apps.policy.models import ControlResult, ControlResultChange, ResultStatus

    result = ControlResult.objects.filter(system=scenario["system"]).exclude(status=ResultStatus.FAIL).first()
    period_end = timezone.now() - timedelta(hours=1)
    before = period_end - timedelta(days=3)
    # The history: this result failed before the period ended; what it says now came later.
    ControlResultChange.objects.create(
        result=result, control=result.control, rule=result.rule, rule_version=result.rule_version,
        system=result.system, artifact=result.artifact, status=ResultStatus.FAIL, previous_status="",
        reason="failing at the end of the period", evidence_ids=[], changed_at=before)
    scope = scope_parse(user=officer, kind="system", params={
        "system": "credit", "start": "2000-01-01", "end": period_end.isoformat()})
    content = pack_content(user=officer, scope=scope)
    rows = [r for c in content.controls for r in c.results]
    assert [r["reason"] for r in rows] == ["failing at the end of the period"]
    assert rows[0]["status"] == ResultStatus.FAIL and rows[0]["evaluated_at"] == before
    assert [c.status for c in content.controls] == [ResultStatus.FAIL]
    assert content.as_of == period_end


def test_the_evidence_chart_spaces_months_by_time_not_as_categories():
    from apps.packs.charts import time_chart

    svg = time_chart([(date(2026, 1, 1), 3), (date(2026, 2, 1), 1), (date(2026, 12, 1), 5)])
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert len(xs) == 3
    # January to February is one month of eleven: about a tenth of the way, not half.
    assert (xs[1] - xs[0]) / (xs[2] - xs[0]) == pytest.approx(31 / 334, abs=0.01)
    assert "2026-01" in svg and "2026-12" in svg


# ---------------------------------------------------------------- the built pack


@pytest.mark.django_db(transaction=True)
def test_a_system_pack_is_a_working_paper_that_still_verifies(pack_zip, tmp_path):
    """The scenario's system pack (of the credit system, built once per process: pack_zip); that the PDF
    also downloads on its own is in tests/packs/test_pack_build.py."""
    from openpyxl import load_workbook

    from apps.packs.bundle import trusted_pack_keys
    from apps.packs.offline.core import verify_pack

    path = pack_zip
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        index_csv = zf.read("index.csv").decode("utf-8")
        xlsx = load_workbook(io.BytesIO(zf.read("index.xlsx")), read_only=True)
        ledger_lines = zf.read("ledger.jsonl").decode("utf-8").splitlines()
        report = zf.read("report.pdf")

    # Evidence in a folder per control, with readable names; the sha256 still in the manifest.
    linked = [item for item in manifest["evidence"] if item["controls"]]
    assert linked
    for item in linked:
        day = item["effective_at"][:10]
        assert re.fullmatch(rf"[^/]+/{day} [a-z0-9-]+ credit {item['sha256'][:8]}…\.[a-z0-9.]+", item["file"]), \
            item["file"]
        assert item["file"] in names
        listed = {f["name"]: f["sha256"] for f in manifest["files"]}
        assert listed[item["file"]] == item["sha256"]
    assert not [n for n in names if n.startswith("evidence/")], "no more files named by their hash alone"

    # The index maps each file to its control, request, sample item and ledger entry.
    rows = list(csv.DictReader(io.StringIO(index_csv)))
    assert {"file", "control", "evidence", "sha256", "request", "sample_item", "ledger_index"} <= set(rows[0])
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    for item in linked:
        assert by_file[item["file"]][0]["ledger_index"] == str(item["ledger"]["index"])
    sheet = xlsx.active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == list(rows[0])
    assert sum(1 for _ in sheet.iter_rows()) == len(rows) + 1

    # The ledger's entries as JSON Lines in the ZIP, the PDF's ledger section a table with leaf hashes.
    entries = [json.loads(line) for line in ledger_lines]
    assert entries and all({"index", "leaf_hash", "entry"} <= set(e) for e in entries)
    (tmp_path / "report.pdf").write_bytes(report)
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = re.sub(r"\s", "", text)
    assert "Leafhash" in flat
    assert entries[0]["leaf_hash"] in flat  # not cut off
    assert '{"' not in text  # no raw JSON in the report
    assert "as of the end of the period" in " ".join(text.split())

    # The contents end on a page of their own only with at least 8 of their lines (here: they fit one page).
    toc_pages = []
    for number in range(2, 7):  # page 1 is the cover
        page = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(tmp_path / "report.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        if "Contents" in lines[:5]:  # the running header names the part the page belongs to
            toc_pages.append([line for line in lines if re.search(r"\s\d+$", line) or re.fullmatch(r"\d+", line)])
    assert toc_pages
    assert len(toc_pages) == 1 or len(toc_pages[-1]) >= 8, toc_pages[-1]

    # The pack still verifies.
    verify_pack(path, trusted_keys=trusted_pack_keys())
