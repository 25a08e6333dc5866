"""The pack's PDF: sections rendered in chunks by WeasyPrint, merged, page-numbered, with attachments.

Why chunks: WeasyPrint lays out a long document in memory at once; a 500-page report in one
go grows to gigabytes and slows down. So the report is cut into chunks of whole sections
(each section holds at most one table, long lists are split into several sections), each
chunk is an HTML file rendered to its own PDF, and the PDFs are merged with pypdf. Chunks are
independent, so several heavy workers can render the chunks of one pack at once
(apps.packs.services: chunk claims).

What a single WeasyPrint document would give for free is rebuilt after the merge:

- "Page X of Y" (CSS counters stop at a chunk's edge): one small WeasyPrint document of Y
  empty pages whose bottom-right margin box says "PK-… • Page X of Y" is rendered after the
  chunk page counts are known, and each of its pages is laid over the matching report page
  as a form XObject (no content stream of the report is parsed or rewritten).
- The table of contents (CSS target-counter() cannot see into other chunks): each chunk
  reports the page of each section anchor; the cover and contents are rendered last with
  those numbers written in (rendered twice only if the contents' own length changes them).
- Bookmarks: written as the PDF outline from the same anchors.

The merged file keeps the PDF/A-3b identification (XMP metadata and sRGB output intent of
the WeasyPrint chunks) and embeds raw evidence files as associated files (/AF) up to
PORTAL_PACK_ATTACH_MAX_BYTES in total.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import html as html_lib
import json
import mimetypes
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from apps.common.palette import CONTROL_STATUS
from apps.packs import charts
from apps.packs.content import EvidenceItem, PackContent

STATIC_SCHEME = "portal-static:"
PDF_VARIANT = "pdf/a-3b"
ROWS_PER_PAGE = 34  # rough: what a chunk's size is planned with
# The screen's status colours (apps.common.palette); each bar is labelled with its status as well.
STATUS_COLOURS = {status: style.colour for status, style in CONTROL_STATUS.items()}
VERDICT_COLOUR = "#1d4e89"


# ---------------------------------------------------------------- fetching: our static files and data: only


def _url_fetcher():
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: PLC0415 - PDF libraries load only where packs render

    class PackFetcher(URLFetcher):
        """Serves `portal-static:<path>` from our static files and `data:` URLs; refuses everything else,
        so a pack build never reaches the network or reads an arbitrary file."""

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith(STATIC_SCHEME):
                relative = url[len(STATIC_SCHEME):]
                path = finders.find(relative) if ".." not in relative else None
                if not path:
                    raise ValueError(f"no static file {relative!r}")
                mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return URLFetcherResponse(url, Path(path).read_bytes(), {"Content-Type": mime})
            raise ValueError(f"evidence packs load nothing from {url[:80]!r}: only our static files and data: URLs")

    return PackFetcher(fail_on_errors=False)


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# ---------------------------------------------------------------- sections


# A section that opens with an <h1> starts a new page (print.css: h1 break-before: page), so a chunk may
# begin there without changing the layout; one that opens with an <h2> (a control, a sample) flows on.
OPENING_H1 = re.compile(r"\A\s*<section\b[^>]*>\s*<h1\b[^>]*>(.*?)</h1>", re.S)


def _text_of(fragment: str) -> str:
    """What CSS content() gives for an element holding this HTML: its text, whitespace collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


@dataclass
class Section:
    """One piece of the report: an anchor for the contents, a title, its HTML, and about how many rows."""

    anchor: str
    title: str
    level: int  # 1: a part (numbered heading, new page); 2: a control; 0: not in the contents
    html: str
    rows: int
    part: str  # the running header of pages that start in this section (before an <h1> sets it)
    heading: str = ""  # the text of the <h1> this section opens with (it starts a new page), else ""
    running: str = ""  # the running header in force where this section starts (the last <h1> so far)

    @property
    def new_page(self) -> bool:
        return bool(self.heading)


def _split(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _chart_context(content: PackContent) -> tuple[dict, dict]:
    figures = dict(content.figures)
    coverage = figures["coverage"]
    figures["coverage_text"] = f"{coverage * 100:.0f}%" if coverage is not None else "n/a"
    figures["exception_total"] = sum(figures["exceptions"].values())
    status_rows = [(label, count, STATUS_COLOURS.get(code, "#888")) for code, label, count in figures["control_status"]]
    kind_rows = [(kind, count, VERDICT_COLOUR) for kind, count in figures["kinds"]] or [("none", 0, VERDICT_COLOUR)]
    chart_urls = {
        "coverage": data_url(charts.coverage_gauge(coverage)),
        "status": data_url(charts.bar_chart(status_rows)),
        "kinds": data_url(charts.bar_chart(kind_rows)),
        # Months placed on a real time axis (a month as its first day), not spaced as categories.
        "timeline": data_url(charts.time_chart(
            [(date(int(month[:4]), int(month[5:7]), 1), count) for month, count in figures["timeline"]])),
    }
    return figures, chart_urls


def build_sections(
    content: PackContent, meta: dict, ledger_rows: Iterable[dict], *, rows_per_section: int = 60
) -> list[Section]:
    """Every section of the report body, in order. Long lists become several sections of one table each."""
    tpl = "packs/pdf/sections.html#"
    sections: list[Section] = []
    figures, chart_urls = _chart_context(content)

    def add(anchor, title, level, partial, rows, part, **ctx):
        html = render_to_string(tpl + partial, {"meta": meta, "anchor": anchor, **ctx})
        opening = OPENING_H1.match(html)
        heading = _text_of(opening.group(1)) if opening else ""
        running = heading or (sections[-1].running if sections else part)
        sections.append(Section(anchor, title, level, html, rows, part, heading, running))

    add("summary", "1 Summary", 1, "summary", 40, "Summary", figures=figures, charts=chart_urls)

    part = "Control matrix"
    for i, chunk in enumerate(_split(content.controls, rows_per_section)):
        add(f"matrix-{i}", "2 Control matrix" if i == 0 else "", 1 if i == 0 else 0, "matrix", len(chunk) * 1.4 + 4,
            part, controls=chunk, first=i == 0)

    part = "Controls and evidence"
    add("controls", "3 Controls and evidence", 1, "controls_intro", 4, part)
    evidence = content.evidence
    per_section = max(8, rows_per_section // 2)
    for control in content.controls:
        items = [evidence[e] for e in control.evidence_ids]
        for i, chunk in enumerate(_split(items, per_section)):
            anchor = control.anchor if i == 0 else f"{control.anchor}-{i}"
            rows = len(chunk) * 2.2 + (len(control.results) * 1.5 + 4 if i == 0 else 2)
            add(anchor, f"{control.label} {control.title}" if i == 0 else "", 2 if i == 0 else 0, "control", rows,
                part, c=control, items=chunk, part_index=i)

    part = "Other evidence in scope"
    for i, chunk in enumerate(_split(content.unlinked_evidence, per_section)):
        add(f"other-{i}", "4 Other evidence in scope" if i == 0 else "", 1 if i == 0 else 0, "unlinked",
            len(chunk) * 2.2 + 4, part, items=chunk, first=i == 0)

    part = "Exception register"
    for i, chunk in enumerate(_split(content.exceptions, max(6, rows_per_section // 4))):
        add(f"exceptions-{i}", "5 Exception register" if i == 0 else "", 1 if i == 0 else 0, "exceptions",
            len(chunk) * 4 + 4, part, items=chunk, first=i == 0)

    drawings = [{**d, "src": data_url(d["svg"]) if d["svg"] else ""} for d in content.lineage]
    add("lineage", "6 Lineage", 1, "lineage", 30 * max(1, len(drawings)) + 2 * len(content.release_chains),
        "Lineage", drawings=drawings, chains=content.release_chains)

    part = "Ledger entries"
    batch: list[dict] = []
    index = 0

    def flush():
        nonlocal index
        add(f"ledger-{index}", "7 Ledger entries" if index == 0 else "", 1 if index == 0 else 0, "ledger",
            len(batch) * 1.3 + 4, part, entries=list(batch), first=index == 0)
        index += 1
        batch.clear()

    for row in ledger_rows:
        batch.append(row)
        if len(batch) >= rows_per_section:
            flush()
    if batch or index == 0:
        flush()

    if content.engagement is not None:  # engagement packs: the auditors' reviews and samples (issue 9)
        record = content.engagement
        part = "Engagement record"
        for i, chunk in enumerate(_split(record["reviews"], max(8, rows_per_section // 2))):
            add(f"engagement-reviews-{i}", "8 Engagement record" if i == 0 else "", 1 if i == 0 else 0,
                "engagement_reviews", len(chunk) * 2 + 8, part, record=record, reviews=chunk, first=i == 0)
        for sample in record["samples"]:
            for i, chunk in enumerate(_split(sample["items"], rows_per_section)):
                anchor = f"sample-{sample['id']}" + (f"-{i}" if i else "")
                add(anchor, f"Sample S-{sample['id']}: {sample['population_label']}" if i == 0 else "",
                    2 if i == 0 else 0, "engagement_sample", len(chunk) * 1.5 + (8 if i == 0 else 2), part,
                    sample=sample, items=chunk, part_index=i)

    add("appendix", "Appendix A Verifying this pack", 1, "appendix", 30, "Appendix A")
    return sections


def plan_chunks(sections: list[Section], *, rows_per_chunk: int) -> list[list[Section]]:
    """Consecutive sections grouped into chunks of at most about `rows_per_chunk` table rows.

    A chunk ends early, once it holds a third of that, before a section that starts a new page
    anyway (an <h1>): a cut there changes nothing in the layout, and smaller chunks share out
    better between heavy workers (the last chunk of a build is its critical path) and need less
    memory. A cut before a section that flows on (a control's <h2>) adds a page break, so it is
    made only when the chunk would otherwise grow past `rows_per_chunk`."""
    soft = rows_per_chunk / 3
    chunks: list[list[Section]] = [[]]
    rows = 0.0
    for section in sections:
        if chunks[-1] and (rows + section.rows > rows_per_chunk or (section.new_page and rows >= soft)):
            chunks.append([])
            rows = 0.0
        chunks[-1].append(section)
        rows += section.rows
    return chunks


def write_chunk_html(path: Path, sections: list[Section], meta: dict) -> dict:
    """One chunk's HTML file; returns what the merge needs to know about its sections."""
    # The running header of the chunk's first page is the one a single document would show there:
    # the <h1> the chunk opens with, or the last one before it.
    html = render_to_string("packs/pdf/chunk.html", {"meta": meta, "sections": [s.html for s in sections],
                                                     "part": sections[0].running if sections else ""})
    _atomic_write(path, html.encode("utf-8"))
    return {"toc": [{"anchor": s.anchor, "title": s.title, "level": s.level} for s in sections if s.level]}


# ---------------------------------------------------------------- rendering


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def young_collections_only():
    """No full garbage collection while WeasyPrint renders a document; one full collection after it.

    A render allocates millions of objects (boxes, styles, text layouts) that live until it ends.
    CPython runs a full collection, rescanning the whole heap, each time the long-lived objects grow
    by a quarter: measured, 15-25 % of a chunk's CPU time went there. Young collections still run
    (short-lived cycles are freed as usual), and the collection afterwards frees the document's
    cycles, so the peak memory stays what it was (measured: ~200 MiB either way for a 136-page pack)."""
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], 10**9)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.collect()


def render_pdf(html_path: Path, pdf_path: Path, *, metadata: dict | None = None) -> dict:
    """Render one HTML file to a PDF/A-3b file; returns {"pages", "anchors": {anchor: page index}, "seconds"}."""
    from weasyprint import HTML  # noqa: PLC0415 - PDF libraries load only where packs render

    started = time.perf_counter()
    with young_collections_only():
        document = HTML(filename=str(html_path), url_fetcher=_url_fetcher(), base_url=str(html_path.parent)).render()
        anchors: dict[str, int] = {}
        for number, page in enumerate(document.pages):
            for anchor in page.anchors:
                anchors.setdefault(anchor, number)
        tmp = pdf_path.with_name(f".{pdf_path.name}.{os.getpid()}.tmp")
        document.write_pdf(str(tmp), pdf_variant=PDF_VARIANT, uncompressed_pdf=False)
        os.replace(tmp, pdf_path)
        pages = len(document.pages)
        del document
    return {"pages": pages, "anchors": anchors, "seconds": time.perf_counter() - started}


def render_front(build_dir: Path, meta: dict, toc_body: list[dict], body_offset_guess: int) -> tuple[Path, int]:
    """Cover and contents, with the body's page numbers written in. Returns (pdf path, its page count).

    `toc_body` holds entries with `body_page` (0-based page within the body); the front matter's
    own length shifts them, so it is rendered again when the first guess was wrong (rare: the
    contents' length is known from its number of lines)."""
    front_pages = body_offset_guess
    compact = 0
    for _ in range(5):
        toc = [{**e, "page": e["body_page"] + front_pages + 1} for e in toc_body]
        html_path = build_dir / "front.html"
        context = {"meta": meta, "toc": toc, "compact": compact}
        _atomic_write(html_path, render_to_string("packs/pdf/front.html", context).encode())
        pdf_path = build_dir / "front.pdf"
        result = render_pdf(html_path, pdf_path)
        if compact < 2 and _nearly_empty_last_page(result, len(toc)):
            compact += 1  # the contents ran a few lines onto a page of their own: tighten them instead
            continue
        if result["pages"] == front_pages:
            return pdf_path, front_pages
        front_pages = result["pages"]
    return pdf_path, front_pages


# The contents may end on a page of their own only when it holds at least this many lines.
TOC_MIN_LAST_PAGE_LINES = 8


def _nearly_empty_last_page(result: dict, entries: int) -> bool:
    """True when the contents' last page holds only a few of its lines (anchors `toc-N` name the pages)."""
    pages = [result["anchors"].get(f"toc-{n}") for n in range(1, entries + 1)]
    pages = [p for p in pages if p is not None]
    if not pages:
        return False
    last = max(pages)
    return last > min(pages) and pages.count(last) < TOC_MIN_LAST_PAGE_LINES


def render_overlay(build_dir: Path, *, reference: str, pages: int) -> Path:
    """Y empty pages whose footer says "<pack> • Page X of Y" (none on the cover)."""
    html_path = build_dir / "overlay.html"
    _atomic_write(
        html_path,
        render_to_string("packs/pdf/overlay.html", {"reference": reference, "pages": range(pages)}).encode(),
    )
    pdf_path = build_dir / "overlay.pdf"
    render_pdf(html_path, pdf_path)
    return pdf_path


# ---------------------------------------------------------------- merging


def _stamp(writer, page, overlay_page, name) -> None:
    """Lay `overlay_page` over `page` as a form XObject: one `Do` appended, nothing parsed or rewritten.

    `name` must be unique per page: WeasyPrint pages of one chunk share one resource dictionary."""
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, StreamObject  # noqa: PLC0415 - PDF libraries load only where packs render

    contents = overlay_page.get_contents()
    data = contents.get_data() if contents is not None else b""
    form = StreamObject()
    form._data = data  # noqa: SLF001 - pypdf's way to fill a new stream object
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(overlay_page.mediabox),
            NameObject("/Resources"): overlay_page["/Resources"].clone(writer),
        }
    )
    form = form.flate_encode()
    form_ref = writer._add_object(form)  # noqa: SLF001
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else DictionaryObject()
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else DictionaryObject()
    xobjects[NameObject(name)] = form_ref
    resources[NameObject("/XObject")] = xobjects
    page[NameObject("/Resources")] = resources
    # The report page's own content may leave a transformation in force (WeasyPrint flips the
    # y axis): wrap it in q ... Q so the stamp starts from the page's default coordinates.
    opening, closing = DecodedStreamObject(), DecodedStreamObject()
    opening.set_data(b"q\n")
    closing.set_data(f"\nQ q {name} Do Q\n".encode())
    existing = page.get("/Contents")
    parts = ArrayObject([writer._add_object(opening)])  # noqa: SLF001
    if existing is not None:
        existing = existing.get_object()
        if isinstance(existing, ArrayObject):
            parts.extend(existing)
        else:
            parts.append(page.raw_get("/Contents"))
    parts.append(writer._add_object(closing))  # noqa: SLF001
    page[NameObject("/Contents")] = parts


def merge_pdf(
    out_path: Path,
    parts: list[Path],
    *,
    overlay: Path,
    outline: list[dict],
    attachments: list[tuple[str, str, str]],
    read_blob: Callable[[str], bytes],
    title: str,
) -> int:
    """Merge the chunk PDFs into `out_path`: stamp page numbers, add the outline and the attachments,
    keep the PDF/A identification of the first part. Returns the page count."""
    from pypdf import PdfReader, PdfWriter  # noqa: PLC0415 - PDF libraries load only where packs render
    from pypdf.generic import (  # noqa: PLC0415 - PDF libraries load only where packs render
        ArrayObject,
        ByteStringObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = PdfWriter()
    overlay_reader = PdfReader(str(overlay))
    first = PdfReader(str(parts[0]))
    page_number = 0
    for part in parts:
        reader = first if part == parts[0] else PdfReader(str(part))
        for page in reader.pages:
            added = writer.add_page(page)
            if page_number > 0:
                _stamp(writer, added, overlay_reader.pages[page_number], f"/PackPageNo{page_number}")
            page_number += 1

    # PDF/A: the XMP metadata and output intent of the first part (WeasyPrint wrote them for PDF/A-3b),
    # and a document information dictionary that agrees with them.
    root = first.trailer["/Root"]
    for key in ("/Metadata", "/OutputIntents", "/MarkInfo", "/Lang"):
        if key in root:
            writer._root_object[NameObject(key)] = writer._add_object(root[key].get_object().clone(writer)) \
                if key == "/Metadata" else root[key].clone(writer)  # noqa: SLF001
    info = first.metadata or {}
    writer.add_metadata({k: str(v) for k, v in info.items()} | {"/Title": title})
    digest = hashlib.sha256(title.encode() + str(page_number).encode()).digest()[:16]
    writer._ID = ArrayObject([ByteStringObject(digest), ByteStringObject(digest)])  # noqa: SLF001

    by_anchor: dict = {}
    for entry in outline:
        parent = by_anchor.get("part") if entry["level"] == 2 else None
        item = writer.add_outline_item(title=entry["title"], page_number=entry["page"], parent=parent)
        if entry["level"] == 1:
            by_anchor["part"] = item

    # Raw evidence as PDF/A-3 associated files: each with its MIME type, dates and relationship.
    if attachments:
        specs = ArrayObject()
        names = ArrayObject()
        for name, sha, mime in attachments:
            data = read_blob(sha)
            stream = DecodedStreamObject()
            stream.set_data(data)
            stream = stream.flate_encode()
            stream.update(
                {
                    NameObject("/Type"): NameObject("/EmbeddedFile"),
                    NameObject("/Subtype"): NameObject("/" + mime.replace("/", "#2F")),
                    NameObject("/Params"): DictionaryObject({NameObject("/Size"): NumberObject(len(data))}),
                }
            )
            stream_ref = writer._add_object(stream)  # noqa: SLF001
            spec = DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Filespec"),
                    NameObject("/F"): TextStringObject(name),
                    NameObject("/UF"): TextStringObject(name),
                    NameObject("/Desc"): TextStringObject("Raw evidence file (sha256 in its name)"),
                    NameObject("/AFRelationship"): NameObject("/Source"),
                    NameObject("/EF"): DictionaryObject({NameObject("/F"): stream_ref, NameObject("/UF"): stream_ref}),
                }
            )
            spec_ref = writer._add_object(spec)  # noqa: SLF001
            specs.append(spec_ref)
            names.extend([TextStringObject(name), spec_ref])
        writer._root_object[NameObject("/AF")] = specs  # noqa: SLF001
        name_tree = writer._root_object.get("/Names")  # noqa: SLF001
        name_tree = name_tree.get_object() if name_tree is not None else DictionaryObject()
        name_tree[NameObject("/EmbeddedFiles")] = DictionaryObject({NameObject("/Names"): names})
        writer._root_object[NameObject("/Names")] = name_tree  # noqa: SLF001

    tmp = out_path.with_name(f".{out_path.name}.tmp")
    with open(tmp, "wb") as fh:
        writer.write(fh)
    os.replace(tmp, out_path)
    return page_number


def attachment_list(items: Iterable[EvidenceItem], size_of: Callable[[str], int | None], *, budget: int) -> list:
    """Raw files to embed as (name, sha256, mime), each once, smallest first until `budget` bytes are used."""
    seen: dict[str, EvidenceItem] = {}
    for item in items:
        seen.setdefault(item.sha256, item)
    candidates = []
    for sha, item in seen.items():
        size = size_of(sha)
        if size is not None:
            candidates.append((size, sha, item))
    chosen, used = [], 0
    for size, sha, item in sorted(candidates, key=lambda c: (c[0], c[1])):
        if used + size > budget:
            break
        used += size
        mime = mimetypes.guess_type("x" + item.extension)[0] or "application/octet-stream"
        chosen.append((f"{sha}{item.extension}", sha, mime))
    return chosen


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
