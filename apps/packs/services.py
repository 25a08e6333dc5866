"""Writes of packs: request, build, render chunks, cancel, fail, download, sweep.

The build is safe to run twice and survives a worker killed at any point:

- Claim by conditional UPDATE: a queued pack, or a building one whose lease has lapsed
  (its worker died), becomes BUILDING with a new `build_token`, `attempts + 1` and a lease.
  A heartbeat thread renews the lease while the process lives; every progress write is
  conditional on the token, so a build that lost its claim (cancelled, or taken over after
  a stall) notices and stops.
- Attempts are counted in the row: a claim past PORTAL_PACK_MAX_ATTEMPTS fails the pack with
  the reason instead of building again (a pack that kills its worker by running out of
  memory must not loop forever through redelivery).
- Everything is written under PORTAL_PACK_ROOT/build/<pack>-<token>/; only the finished
  ZIP is renamed into PORTAL_PACK_ROOT/files/ (atomic, same file system), and the row
  becomes BUILT in the same step's transaction, conditional on the token. A later attempt
  removes the leftovers of earlier ones, so at the end there is exactly one ZIP.

Rendering is shared: the build writes one HTML file per chunk and one PackChunk row per
chunk, queues a pack_render_chunk task per chunk for the other heavy workers, and renders
chunks itself until none is left to claim; then it waits for chunks others are rendering
(taking over any whose renderer's lease lapsed), and merges.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.notifications import notification_send
from apps.accounts.roles import Role
from apps.accounts.scoping import can_see_system, is_scoped_auditor
from apps.engagements.models import Engagement
from apps.ingest.blobs import blob_open, blob_size
from apps.ledger.selectors import consistency_bundle
from apps.ledger.services import latest_checkpoint, ledger_checkpoint, ledger_integrate_all, ledger_record
from apps.ledger.verify import encode_hash
from apps.packs import bundle, render
from apps.packs.content import pack_content
from apps.packs.models import Pack, PackChunk, PackStage
from apps.packs.render import render_pdf
from apps.packs.scope import Scope, period_label, scope_of_pack, scope_parse

logger = logging.getLogger(__name__)

REQUEST_ROLES = (Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR)
SEE_ALL_ROLES = (Role.ADMIN, Role.COMPLIANCE_OFFICER)
# Progress: collecting 0-10 %, rendering 10-85 %, signing 85-100 %.
RENDER_FROM, RENDER_TO = 10, 85


class BuildAborted(Exception):
    """This build no longer owns the pack (cancelled, failed elsewhere, or taken over)."""


class PackBusy(Exception):
    """Another live worker holds the pack's build; try again after its lease."""

    def __init__(self, retry_in: float) -> None:
        self.retry_in = retry_in
        super().__init__(f"the pack is being built elsewhere; retry in {retry_in:.0f} s")


# ---------------------------------------------------------------- who may do what


def can_request_packs(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (user.is_superuser or user.has_role(*REQUEST_ROLES))


def sees_all_packs(user) -> bool:
    return user.is_superuser or user.has_role(*SEE_ALL_ROLES)


def can_download(user, pack: Pack) -> bool:
    """The requester or a compliance officer, and (for auditors) only while they may still see every system."""
    if not (sees_all_packs(user) or pack.requester_id == user.pk):
        return False
    if is_scoped_auditor(user):
        return all(can_see_system(user, system_id) for system_id in pack.system_ids)
    return True


# ---------------------------------------------------------------- paths


def pack_root() -> Path:
    return Path(settings.PORTAL_PACK_ROOT)


def build_dir_of(pack_id: int, token: str) -> Path:
    return pack_root() / "build" / f"{pack_id}-{token}"


def final_path_of(pack_id: int) -> Path:
    return pack_root() / "files" / f"evidence-pack-{pack_id:06d}.zip"


def _remove_build_dirs(pack_id: int, *, keep: str = "") -> None:
    """Delete what earlier attempts of this pack left behind (a worker killed mid-build)."""
    for path in (pack_root() / "build").glob(f"{pack_id}-*"):
        if keep and path.name == f"{pack_id}-{keep}":
            continue
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- request, cancel


def pack_request(*, user, kind: str, params: dict) -> Pack:
    """Record a request for a pack of a scope the user may see, and queue its build after commit."""
    if not can_request_packs(user):
        raise PermissionDenied("only compliance officers, admins and auditors request evidence packs")
    scope: Scope = scope_parse(user=user, kind=kind, params=params)
    now = timezone.now()
    with transaction.atomic():
        pack = Pack.objects.create(
            scope_kind=scope.kind,
            scope=scope.params,
            scope_label=scope.label,
            period_start=scope.period_start,
            period_end=scope.period_end,
            requester=user,
            requested_at=now,
            status=Pack.Status.QUEUED,
            status_since=now,
        )
        ledger_record(
            actor=user,
            action="pack.requested",
            target=pack,
            data={"scope_kind": scope.kind, "scope": scope.params, "label": scope.label},
        )
        # robust: with Redis down the request is still recorded (not a 500); pack-sweep queues it later.
        transaction.on_commit(lambda: _enqueue_build(pack.pk), robust=True)
    return pack


def _enqueue_build(pack_id: int, countdown: float | None = None) -> None:
    from apps.packs.tasks import pack_build as pack_build_task  # noqa: PLC0415 - circular: apps.packs.tasks imports this module

    pack_build_task.apply_async((pack_id,), countdown=countdown)


@transaction.atomic
def pack_cancel(*, user, pack_id: int) -> Pack:
    """Cancel a queued or building pack. The building worker notices at its next step and cleans up."""
    pack = Pack.objects.select_for_update().get(pk=pack_id)
    if not (sees_all_packs(user) or pack.requester_id == user.pk):
        raise PermissionDenied("only the requester or a compliance officer may cancel this pack")
    if not pack.can_move_to(Pack.Status.CANCELLED):
        raise ValidationError(f"{pack.reference} is {pack.get_status_display().lower()}; it can no longer be cancelled")
    before = pack.status
    Pack.objects.filter(pk=pack.pk).update(status=Pack.Status.CANCELLED, status_since=timezone.now(), lease_until=None)
    ledger_record(actor=user, action="pack.cancelled", target=pack, data={"from": before, "stage": pack.stage})
    pack.refresh_from_db()
    return pack


def _fail(pack_id: int, *, token: str | None, reason: str) -> bool:
    """Mark a pack failed with its reason (conditional on the build token when given). True if it did."""
    with transaction.atomic():
        qs = Pack.objects.filter(pk=pack_id, status__in=Pack.ACTIVE)
        if token is not None:
            qs = qs.filter(build_token=token)
        pack = qs.select_for_update().first()
        if pack is None:
            return False
        Pack.objects.filter(pk=pack_id).update(
            status=Pack.Status.FAILED, status_since=timezone.now(), error=reason[:4000], lease_until=None
        )
        ledger_record(actor="system:packs", action="pack.failed", target=pack,
                      data={"reason": reason[:1000], "attempts": pack.attempts})
        requester = pack.requester
        transaction.on_commit(lambda: _notify(pack_id, requester, failed=True), robust=True)
    return True


def _notify(pack_id: int, requester, *, failed: bool) -> None:
    pack = Pack.objects.get(pk=pack_id)
    with transaction.atomic():
        if failed:
            notification_send(recipients=[requester], title=f"Evidence pack {pack.reference} failed",
                              body=f"{pack.scope_label}: {pack.error[:500]}", url=pack.get_absolute_url())
        else:
            notification_send(recipients=[requester], title=f"Evidence pack {pack.reference} is ready",
                              body=f"{pack.scope_label}: {pack.pages} pages, {pack.evidence_count} evidence items, "
                                   f"sha256 {pack.sha256}.", url=pack.get_absolute_url())


# ---------------------------------------------------------------- claims and leases


def _lease_seconds() -> int:
    return settings.PORTAL_PACK_LEASE_SECONDS


def pack_claim(pack_id: int) -> tuple[Pack, str] | None:
    """Claim a pack's build for this process; None when there is nothing to build (done, cancelled).

    Raises PackBusy while another worker's lease on it is live."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        Pack.objects.filter(pk=pack_id)
        .filter(Q(status=Pack.Status.QUEUED) | Q(status=Pack.Status.BUILDING, lease_until__lt=now))
        .update(
            status=Pack.Status.BUILDING,
            status_since=now,
            attempts=F("attempts") + 1,
            build_token=token,
            lease_until=now + timedelta(seconds=_lease_seconds()),
            started_at=now,
            stage=PackStage.COLLECTING,
            progress=1,
        )
    )
    pack = Pack.objects.select_related("requester").get(pk=pack_id)
    if not claimed:
        if pack.status == Pack.Status.BUILDING and pack.lease_until:
            raise PackBusy(max(1.0, (pack.lease_until - now).total_seconds() + 1))
        return None
    if pack.attempts > settings.PORTAL_PACK_MAX_ATTEMPTS:
        _fail(pack_id, token=token, reason=(
            f"gave up after {pack.attempts - 1} interrupted attempts: each build stopped without finishing "
            f"(the worker process died, for example killed for using too much memory)"))
        return None
    if pack.attempts > 1:
        with transaction.atomic():
            ledger_record(actor="system:packs", action="pack.build_restarted", target=pack,
                          data={"attempt": pack.attempts})
    return pack, token


class Heartbeat:
    """Renews a lease from a background thread while the build runs; `lost` is set when the renewal
    finds the row no longer ours (cancelled, failed, or claimed by another attempt)."""

    def __init__(self, renew) -> None:
        self._renew = renew
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pack-heartbeat")

    def _run(self) -> None:
        interval = max(1.0, _lease_seconds() / 3)
        try:
            while not self._stop.wait(interval):
                if not self._renew():
                    self.lost.set()
                    return
        except Exception:  # a database hiccup: the main thread's next conditional write decides
            logger.exception("pack lease renewal failed")
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class StageClock:
    """Wall and CPU seconds of each stage of a build, in order (logged at the end, read by the benchmark).

    CPU seconds are this process's own; rendering by other heavy workers shows as wall time only."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def mark(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        entry = self.stages.setdefault(stage, {"wall": 0.0, "cpu": 0.0})
        entry["wall"] += wall - self._wall
        entry["cpu"] += cpu - self._cpu
        self._wall, self._cpu = wall, cpu

    def summary(self) -> str:
        return ", ".join(f"{name} {t['wall']:.1f} s ({t['cpu']:.1f} s CPU)" for name, t in self.stages.items())


class Build:
    """One build attempt of one pack: progress writes that double as ownership checks."""

    def __init__(self, pack: Pack, token: str) -> None:
        self.pack = pack
        self.token = token
        self.dir = build_dir_of(pack.pk, token)
        self.heartbeat: Heartbeat | None = None
        self.clock = StageClock()

    def _mine(self):
        return Pack.objects.filter(pk=self.pack.pk, build_token=self.token, status=Pack.Status.BUILDING)

    def renew(self) -> bool:
        return bool(self._mine().update(lease_until=timezone.now() + timedelta(seconds=_lease_seconds())))

    def progress(self, stage: str, percent: float) -> None:
        if (self.heartbeat and self.heartbeat.lost.is_set()) or not self._mine().update(
            stage=stage, progress=max(0, min(99, int(percent)))
        ):
            raise BuildAborted(f"{self.pack.reference}: this build no longer owns the pack")


# ---------------------------------------------------------------- the build


def pack_build(*, pack_id: int) -> dict | None:
    """Build a queued pack. Safe to run twice; see the module docstring for how.

    Returns the wall and CPU seconds of each stage when this call built it (StageClock), else None."""
    claim = pack_claim(pack_id)
    if claim is None:
        return None
    pack, token = claim
    build = Build(pack, token)
    _remove_build_dirs(pack.pk, keep=token)
    PackChunk.objects.filter(pack=pack).exclude(build_token=token).delete()
    build.dir.mkdir(parents=True, exist_ok=True)
    try:
        with Heartbeat(build.renew) as heartbeat:
            build.heartbeat = heartbeat
            _build(build)
        return build.clock.stages
    except BuildAborted:
        logger.info("pack %s: build %s stopped (no longer owns the pack)", pack.pk, token)
        shutil.rmtree(build.dir, ignore_errors=True)
    except OSError:
        # Transient (disk, storage): hand the pack back and let the task retry it.
        Pack.objects.filter(pk=pack.pk, build_token=token, status=Pack.Status.BUILDING).update(
            status=Pack.Status.QUEUED, status_since=timezone.now(), lease_until=None)
        shutil.rmtree(build.dir, ignore_errors=True)
        raise
    except Exception as exc:
        logger.exception("pack %s: build failed", pack.pk)
        _fail(pack.pk, token=token, reason=f"{type(exc).__name__}: {exc}")
        shutil.rmtree(build.dir, ignore_errors=True)


def _build(build: Build) -> None:
    from apps.packs.selectors import evidence_ledger_bundles, ledger_rows  # noqa: PLC0415 - circular: apps.packs.selectors imports this module

    pack = build.pack
    clock = build.clock
    started = time.perf_counter()
    build.progress(PackStage.COLLECTING, 2)
    scope = scope_of_pack(pack)
    content = pack_content(user=pack.requester, scope=scope, pack_id=pack.pk)
    build.progress(PackStage.COLLECTING, 5)
    clock.mark("content")

    # Everything collected was committed before this point with its ledger entry: sequence and
    # sign a checkpoint now, so every evidence item has an inclusion proof under it.
    ledger_integrate_all()
    checkpoint = ledger_checkpoint(force=True) or latest_checkpoint()
    key = bundle.pack_signing_key()

    meta = _pack_meta(pack, scope, content, checkpoint, key)
    clock.mark("checkpoint")
    rows = ledger_rows(content.ledger_condition, size=checkpoint.size)
    meta["ledger_count"] = len(rows)
    meta["as_of"] = content.as_of
    meta["period_end"] = scope.period_end
    clock.mark("ledger rows")
    chunks, toc_parts = _write_chunks(build, content, meta, rows, checkpoint_size=checkpoint.size)
    build.progress(PackStage.RENDERING, RENDER_FROM)
    logger.info("pack %s: collected in %.1f s, %d chunks", pack.pk, time.perf_counter() - started, len(chunks))

    # Other heavy workers may help; each helper renders chunks until none is left to claim.
    from apps.packs.tasks import pack_render_chunk as pack_render_chunk_task  # noqa: PLC0415 - circular: apps.packs.tasks imports this module

    for _ in range(min(len(chunks) - 1, 8)):
        pack_render_chunk_task.delay(pack.pk, build.token)
    clock.mark("templating")
    # The inclusion proofs need only the checkpoint: fetch them while the helpers start rendering
    # (with one worker it is the same work, just earlier), off the serial tail after the merge.
    proofs = evidence_ledger_bundles(list(content.evidence), checkpoint)
    clock.mark("proofs")
    _render_until_done(build, len(chunks))
    clock.mark("render chunks")

    logger.info("pack %s: chunks rendered at %.1f s", pack.pk, time.perf_counter() - started)
    report, pages = _merge_report(build, content, meta, toc_parts, n_chunks=len(chunks))
    logger.info("pack %s: PDF merged at %.1f s (%d pages)", pack.pk, time.perf_counter() - started, pages)

    # The ZIP, a working paper: the report, raw evidence (streamed) in a folder per control with readable
    # names, the index (CSV and XLSX), the ledger entries (JSON Lines), manifest, signature, verifier.
    zip_path = build.dir / "pack.zip"
    builder = bundle.ZipBuilder(zip_path)
    with open(report, "rb") as fh:
        builder.add_stream("report.pdf", fh)
    paths, absent = bundle.zip_evidence(builder, content.evidence.values())
    build.progress(PackStage.SIGNING, 92)
    bundle.add_verifier(builder)
    clock.mark("zip files")
    evidence_entries = bundle.evidence_entries(content.evidence.values(), paths, proofs, absent)
    bundle.add_working_paper(builder, content.evidence.values(), paths, proofs, absent=absent)
    bundle.add_ledger_entries(builder, rows)
    manifest = bundle.pack_manifest(pack, content, meta, checkpoint, key, evidence_entries, pages=pages,
                                    ledger_extra=_opening_consistency(pack, checkpoint))
    bundle.sign_and_close(builder, manifest, key, predicate={
        "pack": pack.reference,
        "scope": {"kind": pack.scope_kind, "label": pack.scope_label},
        "generated_at": meta["generated_at"].isoformat(),
        "ledger_checkpoint": {"origin": meta["checkpoint_origin"], "size": checkpoint.size,
                              "root": meta["checkpoint_root"]},
    })
    clock.mark("manifest and signature")
    with open(zip_path, "rb") as fh:
        os.fsync(fh.fileno())
    digest, size = _sha256_file(zip_path)
    build.progress(PackStage.SIGNING, 98)
    clock.mark("hash")
    _publish(build, zip_path, sha256=digest, size=size, pages=pages, evidence_count=len(content.evidence),
             checkpoint_size=checkpoint.size, seconds=time.perf_counter() - started)
    clock.mark("publish")
    logger.info("pack %s: built in %.1f s: %s", pack.pk, time.perf_counter() - started, clock.summary())


def _write_chunks(build: Build, content, meta: dict, rows, *, checkpoint_size: int) -> tuple[list, list]:
    """Plan the report's chunks and write each one's HTML and claimable row; returns them and their TOC parts."""

    pack = build.pack
    sections = render.build_sections(content, meta, rows)
    chunks = render.plan_chunks(sections, rows_per_chunk=settings.PORTAL_PACK_CHUNK_ROWS)
    toc_parts = []
    for index, chunk in enumerate(chunks):
        toc_parts.append(render.write_chunk_html(build.dir / f"chunk-{index:04d}.html", chunk, meta)["toc"])
    PackChunk.objects.bulk_create(
        [PackChunk(pack=pack, build_token=build.token, index=i) for i in range(len(chunks))]
    )
    Pack.objects.filter(pk=pack.pk, build_token=build.token).update(
        system_ids=[s.pk for s in content.systems], evidence_count=len(content.evidence),
        checkpoint_size=checkpoint_size)
    del sections
    return chunks, toc_parts


def _pack_meta(pack, scope, content, checkpoint, key) -> dict:
    """What the report's pages say about the pack: scope, counts, the signed checkpoint and keys."""

    return {
        "reference": pack.reference,
        "pack_id": pack.pk,
        "scope_label": pack.scope_label,
        "scope_kind_label": Pack.ScopeKind(pack.scope_kind).label,
        "period": period_label(scope),
        "systems": [s.name for s in content.systems],
        "requester": pack.requester.get_full_name() or pack.requester.username,
        "requested_at": pack.requested_at,
        "generated_at": timezone.now(),
        "evidence_count": len(content.evidence),
        "control_count": len(content.controls),
        "exception_count": len(content.exceptions),
        "checkpoint_origin": checkpoint.note.split("\n", 1)[0],
        "checkpoint_size": checkpoint.size,
        "checkpoint_root": encode_hash(bytes(checkpoint.root)),
        "checkpoint_note": checkpoint.note,
        "ledger_key": checkpoint.verifier_key,
        "signing_key": key.vkey,
        "predicate_type": bundle.PREDICATE_TYPE,
        # Where the reader gets the verifier and keys: the portal, never the pack (Appendix A).
        "portal_url": settings.PORTAL_BASE_URL.rstrip("/"),
    }


def _merge_report(build: Build, content, meta: dict, toc_parts: list, *, n_chunks: int) -> tuple[Path, int]:
    """Front matter with the table of contents, page numbers, outline and attachments, merged into report.pdf."""

    pack = build.pack
    clock = build.clock
    done = {c.index: c for c in PackChunk.objects.filter(pack=pack, build_token=build.token)}
    body_pages = 0
    toc_body = []
    for index in range(n_chunks):
        chunk = done[index]
        for entry in toc_parts[index]:
            page = chunk.anchors.get(entry["anchor"])
            if page is not None:
                toc_body.append({**entry, "body_page": body_pages + page})
        body_pages += chunk.pages
    toc_lines = len(toc_body)
    front_guess = 1 + max(1, -(-(toc_lines + 3) // 44))
    front_pdf, front_pages = render.render_front(build.dir, meta, toc_body, front_guess)
    total = front_pages + body_pages
    build.progress(PackStage.RENDERING, RENDER_TO - 2)
    clock.mark("front matter")
    overlay = render.render_overlay(build.dir, reference=pack.reference, pages=total)
    clock.mark("page numbers")
    outline = [{"title": "Contents", "level": 1, "page": 1}] + [
        {"title": e["title"], "level": e["level"], "page": front_pages + e["body_page"]} for e in toc_body
    ]

    def size_of(sha: str) -> int | None:
        try:
            return blob_size(sha)
        except (OSError, NotImplementedError):
            return None

    def read_blob(sha: str) -> bytes:
        with blob_open(sha) as fh:
            return fh.read()

    attachments = render.attachment_list(content.evidence.values(), size_of,
                                         budget=settings.PORTAL_PACK_ATTACH_MAX_BYTES)
    report = build.dir / "report.pdf"
    pages = render.merge_pdf(
        report,
        [front_pdf] + [build.dir / f"chunk-{i:04d}.pdf" for i in range(n_chunks)],
        overlay=overlay,
        outline=outline,
        attachments=attachments,
        read_blob=read_blob,
        title=f"Evidence pack {pack.reference}: {pack.scope_label}",
    )
    build.progress(PackStage.SIGNING, RENDER_TO)
    clock.mark("merge")
    return report, pages


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _publish(build: Build, zip_path: Path, *, sha256: str, size: int, pages: int, evidence_count: int,
             checkpoint_size: int, seconds: float) -> None:
    """Move the finished ZIP into place and mark the pack built, both or (nearly) neither."""
    pack = build.pack
    final = final_path_of(pack.pk)
    final.parent.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        locked = Pack.objects.select_for_update().filter(
            pk=pack.pk, build_token=build.token, status=Pack.Status.BUILDING).first()
        if locked is None:
            raise BuildAborted(f"{pack.reference}: cancelled or taken over before it was published")
        # Rename inside the row lock: a cancel waits for us, and a rename without the commit
        # (killed right here) is replaced by the next attempt's rename of its own ZIP.
        os.replace(zip_path, final)
        now = timezone.now()
        Pack.objects.filter(pk=pack.pk).update(
            status=Pack.Status.BUILT, status_since=now, stage=PackStage.DONE, progress=100, built_at=now,
            file=str(final.relative_to(pack_root())), sha256=sha256, size=size, pages=pages,
            evidence_count=evidence_count, checkpoint_size=checkpoint_size, lease_until=None, error="")
        ledger_record(actor="system:packs", action="pack.built", target=locked, data={
            "sha256": sha256, "size": size, "pages": pages, "evidence": evidence_count,
            "checkpoint_size": checkpoint_size, "attempt": locked.attempts, "seconds": round(seconds, 1)})
        requester = locked.requester
        transaction.on_commit(lambda: _notify(pack.pk, requester, failed=False), robust=True)
    # This build's directory and any an earlier attempt's late chunk helper left (the sweep catches the rest).
    _remove_build_dirs(pack.pk)


# ---------------------------------------------------------------- chunks


def _claim_chunk(pack_id: int, token: str, *, steal: bool = False) -> PackChunk | None:
    """Claim the next queued chunk of this build (or, with steal, one whose renderer's lease lapsed)."""
    now = timezone.now()
    with transaction.atomic():
        qs = PackChunk.objects.filter(
            pack_id=pack_id, build_token=token,
            pack__status=Pack.Status.BUILDING, pack__build_token=token,
        )
        condition = Q(status=PackChunk.Status.QUEUED)
        if steal:
            condition |= Q(status=PackChunk.Status.RENDERING, lease_until__lt=now)
        chunk = qs.filter(condition).order_by("index").select_for_update(skip_locked=True, of=("self",)).first()
        if chunk is None:
            return None
        chunk.status = PackChunk.Status.RENDERING
        chunk.lease_until = now + timedelta(seconds=_lease_seconds())
        chunk.rendered_by = f"{socket.gethostname()}:{os.getpid()}"
        chunk.save(update_fields=["status", "lease_until", "rendered_by"])
        return chunk


def _render_chunk(chunk: PackChunk, build_dir: Path) -> None:
    def renew() -> bool:
        return bool(PackChunk.objects.filter(pk=chunk.pk, status=PackChunk.Status.RENDERING).update(
            lease_until=timezone.now() + timedelta(seconds=_lease_seconds())))

    with Heartbeat(renew):
        result = render_pdf(build_dir / f"chunk-{chunk.index:04d}.html", build_dir / f"chunk-{chunk.index:04d}.pdf")
    PackChunk.objects.filter(pk=chunk.pk, status=PackChunk.Status.RENDERING).update(
        status=PackChunk.Status.DONE, pages=result["pages"], anchors=result["anchors"], seconds=result["seconds"])


def pack_render_chunk(*, pack_id: int, token: str) -> int:
    """Help a running build: render its queued chunks until none is left. Returns how many it rendered."""
    build_dir = build_dir_of(pack_id, token)
    rendered = 0
    while (chunk := _claim_chunk(pack_id, token)) is not None:
        if not build_dir.exists():
            return rendered
        _render_chunk(chunk, build_dir)
        rendered += 1
        close_old_connections()
    return rendered


def _render_until_done(build: Build, total: int) -> None:
    """Render chunks of this build until all are done, helping with the queue and then waiting."""
    steal = False
    while True:
        chunk = _claim_chunk(build.pack.pk, build.token, steal=steal)
        if chunk is not None:
            _render_chunk(chunk, build.dir)
        done = PackChunk.objects.filter(
            pack=build.pack, build_token=build.token, status=PackChunk.Status.DONE).count()
        build.progress(PackStage.RENDERING, RENDER_FROM + (RENDER_TO - RENDER_FROM - 3) * done / max(1, total))
        if done >= total:
            return
        if chunk is None:
            # Nothing left to claim: others are rendering. Wait, and take over any that stalled.
            time.sleep(0.2)
            steal = True


# ---------------------------------------------------------------- download, sweep


def pack_download(*, user, pack: Pack):
    """Open a built pack's ZIP for `user` and record the download in the ledger (who and when)."""
    if pack.status != Pack.Status.BUILT:
        raise ValidationError(f"{pack.reference} is {pack.get_status_display().lower()}, not built")
    if not can_download(user, pack):
        raise PermissionDenied("you may not download this pack")
    handle = open(pack_root() / pack.file, "rb")  # noqa: SIM115 - the response closes it
    with transaction.atomic():
        ledger_record(actor=user, action="pack.downloaded", target=pack, data={"sha256": pack.sha256})
    return handle


def pack_report_open(*, user, pack: Pack):
    """Open a built pack's PDF report alone (read from its ZIP) for `user`, recorded in the ledger like a download."""

    if pack.status != Pack.Status.BUILT:
        raise ValidationError(f"{pack.reference} is {pack.get_status_display().lower()}, not built")
    if not can_download(user, pack):
        raise PermissionDenied("you may not download this pack")
    archive = zipfile.ZipFile(pack_root() / pack.file)
    handle = archive.open("report.pdf")  # closing the member leaves the archive to the garbage collector
    with transaction.atomic():
        ledger_record(actor=user, action="pack.downloaded", target=pack,
                      data={"sha256": pack.sha256, "file": "report.pdf"})
    return handle


def pack_sweep() -> dict:
    """Beat, every minute: queue again builds whose worker died (lease lapsed) and queued packs whose
    message was lost, and remove build directories no live build owns. Each is a no-op for packs a
    live worker holds."""
    now = timezone.now()
    grace = timedelta(seconds=_lease_seconds())
    orphaned = list(
        Pack.objects.filter(status=Pack.Status.BUILDING, lease_until__lt=now - grace).values_list("pk", flat=True)
    )
    requeued = []
    for pack_id in orphaned:
        with transaction.atomic():
            pack = Pack.objects.select_for_update(skip_locked=True).filter(
                pk=pack_id, status=Pack.Status.BUILDING, lease_until__lt=now - grace).first()
            if pack is None:
                continue
            Pack.objects.filter(pk=pack_id).update(status=Pack.Status.QUEUED, status_since=now, lease_until=None)
            ledger_record(actor="system:packs", action="pack.requeued", target=pack,
                          data={"reason": "the building worker stopped renewing its lease", "attempts": pack.attempts})
            transaction.on_commit(lambda pid=pack_id: _enqueue_build(pid))
            requeued.append(pack_id)
    stale_queued = list(
        Pack.objects.filter(status=Pack.Status.QUEUED, status_since__lt=now - timedelta(minutes=10))
        .exclude(pk__in=requeued).values_list("pk", flat=True)[:100]
    )
    # status_since doubles as "last queued at", so a slow queue is not flooded with copies every minute.
    Pack.objects.filter(pk__in=stale_queued, status=Pack.Status.QUEUED).update(status_since=now)
    for pack_id in stale_queued:
        _enqueue_build(pack_id)
    return {"requeued": requeued, "reenqueued": stale_queued, "build_dirs_removed": _remove_stale_build_dirs()}


def _remove_stale_build_dirs() -> int:
    """Remove every build directory no live build owns: a killed worker's, or one that a chunk helper of an
    earlier attempt wrote into while the next attempt was removing it (the removal skips what appears
    meanwhile). The directories are listed before the live builds are read: a build claims the pack
    (BUILDING, its token) before it makes its directory, so a directory listed here either belongs to a
    build read as live or to none. Returns how many were removed."""
    root = pack_root() / "build"
    listed = list(root.iterdir()) if root.is_dir() else []
    if not listed:
        return 0
    live = {f"{pk}-{token}" for pk, token in Pack.objects.filter(status=Pack.Status.BUILDING)
            .values_list("pk", "build_token")}  # fmt: skip
    removed = 0
    for path in listed:
        if path.name not in live:
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    return removed


def _opening_consistency(pack: Pack, checkpoint) -> dict:
    """An engagement pack carries the consistency proof from the checkpoint current when the engagement
    opened to the pack's checkpoint (issue 19): the log was only appended to since the audit began."""
    if pack.scope_kind != Pack.ScopeKind.ENGAGEMENT:
        return {}

    engagement = Engagement.objects.filter(pk=(pack.scope or {}).get("engagement")).first()
    opening = engagement.opening_checkpoint if engagement else None
    if opening is None or opening.size > checkpoint.size:
        return {}
    bundle = consistency_bundle(opening, checkpoint)
    return {"consistency": {"from_checkpoint": bundle["first_checkpoint"], "from_size": bundle["first"],
                            "proof": bundle["proof"]}}
