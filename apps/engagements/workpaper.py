"""The engagement's workpaper workbook (XLSX): an index sheet, then one sheet per control in scope.

Each control's sheet holds what its workspace page shows: the requirement, the evidence inside the
observation window with this engagement's review marks, the rule results in plain language with the
evidence that decided them, exceptions with their approvers and re-authentication, samples with
their test results, evidence requests and flag threads. Built from the same selectors as the page.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from django.utils import timezone

from apps.engagements.models import Engagement
from apps.engagements.workspace import ControlReviewStatus, engagement_workspaces

HEADER_FONT = {"bold": True}
INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _cell(value):
    """Excel keeps no time zones: datetimes are written in UTC, as the pages show them."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if timezone.is_aware(value) else value
    return value


def _sheet_title(control, taken: set[str]) -> str:
    """The control id as the sheet's name (Excel: at most 31 characters, none of []:*?/\\, unique)."""
    base = INVALID_SHEET_CHARS.sub("-", control.control_id)[:31] or "control"
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    taken.add(title.lower())
    return title


class _Writer:
    """Appends titled tables to a worksheet, one below the other."""

    def __init__(self, sheet, font):
        self.sheet, self.font = sheet, font

    def row(self, *values, bold: bool = False) -> None:
        self.sheet.append([_cell(v) for v in values])
        if bold:
            for cell in self.sheet[self.sheet.max_row]:
                cell.font = self.font

    def table(self, title: str, header: list[str], rows: list[list], empty: str) -> None:
        self.row()
        self.row(title, bold=True)
        self.row(*header, bold=True)
        for values in rows:
            self.row(*values)
        if not rows:
            self.row(empty)


def _exception_rows(row: dict) -> list[list]:
    """One line per decision on an exception (who, which slot, when they re-authenticated), or one saying none."""
    e = row["exception"]
    base = [e.reference, e.system.name, e.get_status_display(), e.expires_at]
    lines = [[*base, a.approver.display_name, a.get_slot_display(), a.get_decision_display(), a.at,
              a.reauthenticated_at] for a in row["approvals"]]  # fmt: skip
    return lines or [[*base, "(no decision yet)"]]


def _control_sheet(w: _Writer, engagement: Engagement, ws: dict) -> None:
    control = ws["control"]
    w.row(f"{control.framework.code} {control.label}", control.title, bold=True)
    w.row("Control id", control.control_id)
    w.row("Requirement", control.description or control.title)
    w.row("Engagement", engagement.name)
    w.row("Observation window (UTC)", engagement.observation_start, engagement.observation_end)
    w.row("Review status", ControlReviewStatus(ws["status"]).label)
    w.table(
        "Evidence in the observation window",
        ["Evidence id", "Title", "System", "Kind", "Verdict", "Effective at (UTC)", "sha256", "Review mark",
         "Mark comment", "Reviewer"],
        [[e["evidence"].pk, e["evidence"].title, e["evidence"].system.name if e["evidence"].system else "",
          e["evidence"].kind, e["evidence"].verdict, e["evidence"].effective_at, e["evidence"].sha256,
          e["review"].get_mark_display() if e["review"] else "not reviewed", e["review"].comment if e["review"] else "",
          e["review"].reviewer.display_name if e["review"] else ""] for e in ws["evidence"]],
        "No evidence of this control inside the observation window.",
    )  # fmt: skip
    for title, rows in (("Current rule results", ws["results"]), ("Result changes in the window", ws["history"])):
        w.table(
            title,
            ["Rule", "System", "Subject", "Result", "What it means", "At (UTC)", "Evidence ids (in the window)",
             "Evidence outside the window"],
            [[r["rule"], r["system"].name, r["subject"], r["status_label"], r["message"], r["at"],
              ", ".join(str(e.pk) for e in r["evidence"]), r["outside"]] for r in rows],
            "None.",
        )  # fmt: skip
    w.table(
        "Exceptions",
        ["Exception", "System", "Status", "Expires (UTC)", "Approver", "Slot", "Decision", "Decided at (UTC)",
         "Re-authenticated at (UTC)"],
        [r for row in ws["exceptions"] for r in _exception_rows(row)],
        "No exception on this control in the window.",
    )  # fmt: skip
    w.table(
        "Samples",
        ["Sample", "Seed", "Position", "Item", "Label", "Result", "Note", "Tested by", "Tested at (UTC)"],
        [[i.sample_id, i.sample.seed, i.position, f"{i.object_type}:{i.object_id}", i.label, i.get_result_display(),
          i.note, i.tested_by.display_name if i.tested_by else "", i.tested_at] for i in ws["samples"]],
        "None of this control's evidence or exceptions was sampled.",
    )  # fmt: skip
    w.table(
        "Evidence requests",
        ["Request", "Title", "System", "Assignee", "Due", "Status"],
        [[r.pk, r.title, r.system.name, r.assignee.display_name, r.due_date, r.get_status_display()]
         for r in ws["requests"]],
        "No request on this control.",
    )  # fmt: skip
    w.table(
        "Flag threads",
        ["Flag", "Evidence id", "Flag status", "Message", "By", "At (UTC)", "Text"],
        [[t.pk, t.evidence_id, t.get_status_display(), m.get_kind_display(), m.author.display_name, m.at, m.body]
         for t in ws["flags"] for m in t.messages.all()],
        "Nothing flagged.",
    )  # fmt: skip


def workpaper_build(*, engagement: Engagement) -> bytes:
    """The workbook's bytes."""
    from openpyxl import Workbook  # noqa: PLC0415 - heavy library used in one place
    from openpyxl.styles import Font  # noqa: PLC0415 - heavy library used in one place

    font = Font(**HEADER_FONT)
    workspaces = engagement_workspaces(engagement=engagement)
    book = Workbook()
    index = book.active
    index.title = "Index"
    iw = _Writer(index, font)
    iw.row(f"Workpaper: {engagement.name}", bold=True)
    iw.row("Observation window (UTC)", engagement.observation_start, engagement.observation_end)
    iw.row("Generated at (UTC)", timezone.now())
    iw.row()
    iw.row("Sheet", "Control id", "Reference", "Title", "Review status", "Evidence in the window",
           "Unsettled flags", "Failing results", "Exceptions", "Requests waiting", bold=True)  # fmt: skip
    taken = {"index"}
    for ws in workspaces:
        control = ws["control"]
        title = _sheet_title(control, taken)
        _control_sheet(_Writer(book.create_sheet(title), font), engagement, ws)
        iw.row(
            title, control.control_id, f"{control.framework.code} {control.label}", control.title,
            ControlReviewStatus(ws["status"]).label, len(ws["evidence"]),
            sum(1 for t in ws["flags"] if t.status in t.UNSETTLED),
            sum(1 for r in ws["results"] if r["status"] == "fail"), len(ws["exceptions"]),
            sum(1 for r in ws["requests"] if r.status in r.WAITING_FOR_ANSWER),
        )  # fmt: skip
        index.cell(row=index.max_row, column=1).hyperlink = f"#'{title}'!A1"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
