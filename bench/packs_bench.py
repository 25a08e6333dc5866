"""Evidence packs: pages per second of a full build next to WeasyPrint alone, two-worker speedup,
a 500-page pack, and the peak memory of a heavy worker.

Data: a bench system with PACKS_BENCH_ITEMS evidence items (default 2,300) written in bulk, each
with its raw body in the blob store and its `evidence.recorded` ledger entry, so a system pack
of it runs to about 500 pages. Baselines, measured in the same run:

- WeasyPrint alone: the same report HTML (every section of the small pack in one document, the
  stylesheet included) rendered to PDF by one process with nothing else around it;
- the full build (`pack_build` in this process, one worker): collecting, templating, rendering
  in chunks, merging, page numbering, hashing, proofs, signing, ZIP;
- two heavy workers (real `celery worker` processes, prefork, one task per child) building the
  same pack together, and the 500-page pack with two workers;
- peak RSS: the largest resident size any heavy worker process reached (psutil, sampled every
  0.2 s) during the 500-page build.

Where the one-worker build's time goes (CPU seconds of this process per stage, from
`pack_build`'s StageClock): the serial work before rendering, WeasyPrint rendering the chunks, and
the serial tail (front matter, page numbers, merge, ZIP, signature). CPU seconds hardly move with
the machine's load, wall seconds do: with other work on the cores the two-worker figures are not
comparable between runs, so the 1-minute load average at the start and the end is a row too, and
the Amdahl bound of the two-worker speed-up follows from the CPU split of the same build.

Every pack this module requests is queued without a broker message (the builds here are started
explicitly), and the heavy queue is purged before the workers start: a stray `pack_build` message
would have the bench's workers build an extra pack during the measured one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, bench_env, django_setup, row

ITEMS = int(os.environ.get("PACKS_BENCH_ITEMS", "2300"))
SMALL = int(os.environ.get("PACKS_BENCH_SMALL_ITEMS", "700"))


def _seed(n: int, slug: str):
    """A system with n evidence items (bulk: receipts, evidence, blobs, ledger entries)."""
    from django.db import transaction
    from django.utils import timezone

    from apps.evidence.models import Evidence
    from apps.ingest.blobs import blob_store
    from apps.ingest.models import Receipt
    from apps.ingest.services import source_create
    from apps.inventory.models import System
    from apps.ledger.services import ledger_integrate_all, ledger_record

    system, _ = System.objects.get_or_create(slug=slug, defaults={"name": f"Bench {slug}", "risk_tier": "high"})
    if Evidence.objects.filter(system=system).count() >= n:
        return system
    source = source_create(actor="system:bench", kind="generic-ci", name=f"bench {slug} {time.time()}", system=system)
    now = timezone.now()
    with transaction.atomic():
        for i in range(n):
            body = (f'<testsuite name="bench-{slug}" tests="{i % 50 + 1}" failures="{i % 7 == 0:d}">'
                    f'<testcase name="case-{i}"/></testsuite>\n').encode()
            digest = blob_store(body)
            receipt = Receipt.objects.create(
                source=source.source, channel="upload", sha256=digest, size=len(body), filename=f"junit-{i}.xml",
                received_at=now, state_since=now, state="parsed", system=system)
            ev = Evidence.objects.create(
                receipt=receipt, source=source.source, system=system, kind="test-report", format="junit",
                title=f"Unit tests of build {i}: {i % 50 + 1} tests, {int(i % 7 == 0)} failed",
                verdict="fail" if i % 7 == 0 else "pass",
                summary={"tests": i % 50 + 1, "failures": int(i % 7 == 0), "suite": f"bench-{slug}",
                         "duration_s": round(i * 0.37 % 90, 2)},
                received_at=now, effective_at=now, effective_basis="upload", sha256=digest)
            ledger_record(actor=source.source, action="evidence.recorded", target=ev,
                          data={"receipt": str(receipt.pk), "sha256": digest, "kind": ev.kind})
    ledger_integrate_all()
    return system


def _officer():
    from apps.accounts.models import User
    from apps.accounts.roles import Role
    from apps.accounts.services import user_create

    user = User.objects.filter(username="bench-officer").first()
    return user or user_create(username="bench-officer", password=None, roles=[Role.COMPLIANCE_OFFICER])


def _request(system, user):
    from unittest import mock

    from django.db import transaction

    from apps.packs.services import pack_request

    # Queued without a message: this process (or the bench's workers) picks it up explicitly. The
    # message is sent on commit, so the patch must outlive the transaction.
    with mock.patch("apps.packs.services._enqueue_build"), transaction.atomic():
        return pack_request(user=user, kind="system", params={"system": system.slug, "start": "2000-01-01",
                                                              "end": "2100-01-01"})


def _purge_heavy_queue() -> int:
    """Drop messages left on the bench broker's heavy queue (earlier runs): each would cost a worker's time."""
    from compliance_portal.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.queue_purge("heavy") or 0


def _raw_weasyprint(system, user) -> tuple[int, float, float]:
    """The same report HTML in one document, rendered by WeasyPrint alone."""
    from django.template.loader import render_to_string
    from django.utils import timezone
    from weasyprint import HTML

    from apps.packs import render
    from apps.packs.content import pack_content
    from apps.packs.scope import scope_of_pack
    from apps.packs.selectors import ledger_rows
    from apps.packs.services import pack_cancel

    pack = _request(system, user)
    content = pack_content(user=user, scope=scope_of_pack(pack))
    pack_cancel(user=user, pack_id=pack.pk)  # only its reference and scope were needed
    meta = {"reference": pack.reference, "scope_label": pack.scope_label, "period": "", "generated_at": timezone.now(),
            "checkpoint_size": 0, "signing_key": "", "checkpoint_note": "", "ledger_key": "", "predicate_type": ""}
    from django.db.models import Q

    sections = render.build_sections(content, meta, ledger_rows(content.ledger_condition | Q(pk__in=[]), size=10**12))
    html = render_to_string("packs/pdf/chunk.html", {"meta": meta, "sections": [s.html for s in sections], "part": ""})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.html"
        path.write_text(html)
        started, cpu = time.perf_counter(), time.process_time()
        document = HTML(filename=str(path), url_fetcher=render._url_fetcher()).render()
        document.write_pdf(str(Path(tmp) / "all.pdf"), pdf_variant=render.PDF_VARIANT)
        return len(document.pages), time.perf_counter() - started, time.process_time() - cpu


def _build_in_process(system, user) -> tuple[int, float, float, dict]:
    """(pages, seconds, CPU seconds, {stage: {"wall", "cpu"}}) of a build in this process, as one heavy worker
    does it."""
    from unittest import mock

    from apps.packs.models import Pack
    from apps.packs.services import pack_build

    pack = _request(system, user)
    started, cpu = time.perf_counter(), time.process_time()
    # No helper messages: nobody would take them now, and the workers started later must not find them.
    with mock.patch("apps.packs.tasks.pack_render_chunk.delay"):
        stages = pack_build(pack_id=pack.pk)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pack = Pack.objects.get(pk=pack.pk)
    assert pack.status == Pack.Status.BUILT, pack.error
    return pack.pages, elapsed, cpu, stages


# Stages of StageClock, grouped: what runs once per build before and after the chunks are rendered.
BEFORE_RENDERING = ("content", "checkpoint", "ledger rows", "templating", "proofs")
RENDERING = ("render chunks",)


def _stage_rows(stages: dict) -> list[dict]:
    cpu = {name: t["cpu"] for name, t in stages.items()}
    total = sum(cpu.values())
    before = sum(cpu.get(name, 0.0) for name in BEFORE_RENDERING)
    rendering = sum(cpu.get(name, 0.0) for name in RENDERING)
    after = total - before - rendering
    serial = before + after
    return [
        row("one worker, CPU before rendering (content, checkpoint, ledger rows, templating, proofs)", before,
            "s CPU", total, "s CPU whole build"),
        row("one worker, CPU rendering chunks (WeasyPrint)", rendering, "s CPU", total, "s CPU whole build"),
        row("one worker, CPU after rendering (front matter, page numbers, merge, ZIP, signature, publish)", after,
            "s CPU", total, "s CPU whole build"),
        row("two workers, speed-up bound from that split (serial + rendering / 2)", total / (serial + rendering / 2),
            "x", 1.6, "x target"),
    ]


def _workers(n: int, pack_root: str):
    env = bench_env(PORTAL_PACK_ROOT=pack_root)
    procs = []
    for i in range(n):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "compliance_portal", "worker", "--pool", "prefork", "--concurrency",
             "1", "--max-tasks-per-child", "1", "--queues", "heavy", "--loglevel", "WARNING", "--without-mingle",
             "--without-gossip", "--hostname", f"bench-heavy-{i}-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    from compliance_portal.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(app.control.ping(timeout=0.5) or []) < n:
        pass
    return procs


def _build_with_workers(system, user, procs) -> tuple[int, float, float]:
    """(pages, seconds, peak RSS in MiB of any worker process) for a pack built by the running workers."""
    import psutil

    from apps.packs.models import Pack
    from apps.packs.services import _enqueue_build

    pack = _request(system, user)
    started = time.perf_counter()
    _enqueue_build(pack.pk)
    peak = 0
    while True:
        for proc in procs:
            try:
                parent = psutil.Process(proc.pid)
                for p in [parent, *parent.children(recursive=True)]:
                    peak = max(peak, p.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        status = Pack.objects.filter(pk=pack.pk).values_list("status", flat=True).first()
        if status in (Pack.Status.BUILT, Pack.Status.FAILED):
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    pack = Pack.objects.get(pk=pack.pk)
    assert pack.status == Pack.Status.BUILT, pack.error
    return pack.pages, elapsed, peak / 2**20


def run() -> list[dict]:
    os.environ.setdefault("PORTAL_BLOB_FSYNC", "false")
    django_setup()
    from django.conf import settings

    pack_root = tempfile.mkdtemp(prefix="packs-bench-")
    settings.PORTAL_PACK_ROOT = Path(pack_root)
    user = _officer()
    small = _seed(SMALL, "bench-packs-small")
    large = _seed(ITEMS, "bench-packs-large")

    load_start = os.getloadavg()[0]
    raw_pages, raw_seconds, raw_cpu = _raw_weasyprint(small, user)
    raw_rate = raw_pages / raw_seconds
    pages, seconds, cpu, stages = _build_in_process(small, user)
    build_rate = pages / seconds
    rows = [
        row("WeasyPrint alone, same report HTML in one document", raw_rate, "pages/s"),
        row(f"full pack build, one worker ({pages} pages)", build_rate, "pages/s", raw_rate,
            "pages/s WeasyPrint alone"),
        # the same two per CPU second of the process: hardly moved by other work on the machine
        row("full pack build, one worker, pages per CPU second", pages / cpu, "pages/CPU-s", raw_pages / raw_cpu,
            "pages/CPU-s WeasyPrint alone"),
        *_stage_rows(stages),
    ]
    _purge_heavy_queue()
    procs = _workers(2, pack_root)
    try:
        pages2, seconds2, _ = _build_with_workers(small, user, procs)
        rows.append(row(f"full pack build, two heavy workers ({pages2} pages)", pages2 / seconds2, "pages/s",
                        build_rate, "pages/s one worker"))
        big_pages, big_seconds, peak = _build_with_workers(large, user, procs)
        rows.append(row(f"{big_pages}-page pack, two heavy workers", big_seconds, "s", 150, "s target"))
        rows.append(row("peak RSS of a heavy worker process (500-page pack)", peak, "MiB", 1024, "MiB target"))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    rows.append(row("load average (1 min) at the start", load_start, ""))
    rows.append(row("load average (1 min) at the end", os.getloadavg()[0], ""))
    return rows
