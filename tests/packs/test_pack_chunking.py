"""How a pack's report is cut into chunks, that the cuts do not show in the PDF, and how chunks are rendered."""

from __future__ import annotations

import gc
import re
import subprocess
import zipfile

import pytest

from apps.packs.models import Pack, PackChunk
from apps.packs.render import Section, plan_chunks, young_collections_only
from apps.packs.services import pack_build, pack_request


def _section(name: str, rows: int, *, new_page: bool) -> Section:
    tag = "h1" if new_page else "h2"
    html = f'<section id="{name}"><{tag}>{name}</{tag}></section>'
    return Section(name, name, 1 if new_page else 2, html, rows, "Part", name if new_page else "", name)


def _names(chunks: list[list[Section]]) -> list[list[str]]:
    return [[s.anchor for s in chunk] for chunk in chunks]


def test_chunks_end_at_new_pages_once_a_third_full_and_elsewhere_only_when_full():
    sections = [
        _section("p1", 100, new_page=True),
        _section("p2", 100, new_page=True),  # the chunk holds 100 < 360/3: no cut yet
        _section("p3", 100, new_page=True),  # 200 >= 120: cut here, it costs no page break
        _section("c1", 100, new_page=False),
        _section("c2", 100, new_page=False),  # flows on: no cut while the chunk stays within 360
        _section("c3", 100, new_page=False),  # 400 > 360: the only cut that adds a page break
        _section("c4", 100, new_page=False),
        _section("p4", 50, new_page=True),  # 200 >= 120: cut
    ]
    assert _names(plan_chunks(sections, rows_per_chunk=360)) == [
        ["p1", "p2"], ["p3", "c1", "c2"], ["c3", "c4"], ["p4"],
    ]
    # one large section is a chunk of its own; nothing is ever dropped or reordered
    big = [_section("a", 10, new_page=False), _section("b", 1000, new_page=True), _section("c", 10, new_page=False)]
    assert _names(plan_chunks(big, rows_per_chunk=300)) == [["a"], ["b"], ["c"]]


def _page_headers(settings, pack: Pack, tmp_path) -> list[str]:
    """The right-hand running header of every page after the cover."""
    with zipfile.ZipFile(settings.PORTAL_PACK_ROOT / pack.file) as zf:
        (tmp_path / "report.pdf").write_bytes(zf.read("report.pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    headers = []
    for page in text.split("\f")[1:]:
        lines = [line for line in page.splitlines() if line.strip()]
        if lines:
            headers.append(re.split(r"\s{2,}", lines[0].strip())[-1])
    return headers


@pytest.mark.django_db(transaction=True)
def test_a_pack_in_many_chunks_keeps_the_running_header_of_one_document(
    scenario, officer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.PORTAL_PACK_CHUNK_ROWS = 80  # the scenario in 14 chunks (20 rows: 36 chunks, 4 s more CPU)
    with django_capture_on_commit_callbacks(execute=False):  # the test builds it, not a worker
        pack = pack_request(user=officer, kind="system", params={"system": scenario["system"].slug,
                                                                 **scenario["period"]})
    stages = pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    assert pack.status == Pack.Status.BUILT, pack.error
    assert PackChunk.objects.filter(pack=pack).count() > 3, "the report was cut into several chunks"

    headers = _page_headers(settings, pack, tmp_path)
    assert len(headers) == pack.pages - 1
    # Each page names the numbered part heading in force on it, as one WeasyPrint document would;
    # a chunk's first page used to show the bare part name ("Controls and evidence") instead.
    body = headers[headers.index("1 Summary"):]
    assert body and all(re.match(r"(\d+ |Appendix A )", h) for h in body), sorted(set(body))
    assert "3 Controls and evidence" in body and "7 Ledger entries" in body

    # pack_build reports where its time went (the benchmark reads it)
    assert {"content", "templating", "render chunks", "merge", "publish"} <= set(stages)
    assert stages["render chunks"]["cpu"] > 0 and stages["render chunks"]["wall"] > 0


def test_a_render_suspends_full_collections_only_and_restores_them_even_when_it_fails():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), young_collections_only():
        inside = gc.get_threshold()
        raise RuntimeError("a render that fails")
    assert inside[:2] == before[:2], "young collections run as usual"
    assert inside[2] > 10**6, "no full collection during the render"
    assert gc.get_threshold() == before
