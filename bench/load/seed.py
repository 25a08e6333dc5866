"""Seed the load test's data on the bench database and write what locust needs as JSON.

    python -m bench.load.seed seed OUT.json     (PORTAL_PROFILE=dev: seed_demo is not installed in prod)
    python -m bench.load.seed count FIXTURE.json   (what the run's sources and packs became, as JSON)

The demo data (systems, users, evidence, lineage), then this run's own sources (their tokens
and secrets are shown only once, so every run makes new ones), auditors with a password and
an open engagement over every demo system. Everything goes through the portal's services.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path


def main(out: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Q
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.accounts.roles import Role
    from apps.accounts.services import user_create
    from apps.engagements.services import engagement_open
    from apps.evidence.models import Artifact, Evidence
    from apps.ingest.services import source_create
    from apps.inventory.models import System

    call_command("seed_demo", verbosity=0)
    now = timezone.now()
    run = now.strftime("%Y%m%d%H%M%S")
    compliance = User.objects.get(username="compliance")
    systems = list(System.objects.order_by("slug"))

    # Packs an earlier, interrupted run left queued or building would hold the heavy queue: cancel
    # them (through the service, ledgered), so each run measures its own packs.
    from django.db import transaction

    from apps.packs.models import Pack
    from apps.packs.services import pack_cancel

    for pack in Pack.objects.filter(requester__username__startswith="load-auditor-", status__in=Pack.ACTIVE):
        with transaction.atomic():
            pack_cancel(user=pack.requester, pack_id=pack.pk)

    auditors = []
    for i in range(1, 4):
        username = f"load-auditor-{i}"
        password = secrets.token_urlsafe(18)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username, password=password, roles=[Role.AUDITOR], email=f"{username}@example.org"
            )
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        auditors.append({"username": username, "password": password})

    engagement = engagement_open(
        actor=compliance,
        name=f"Load test {run}",
        auditors=User.objects.filter(username__in=[a["username"] for a in auditors]),
        systems=systems,
        observation_start=now - timedelta(days=800),
        observation_end=now + timedelta(days=2),
        access_start=now - timedelta(minutes=1),
        access_end=now + timedelta(days=1),
    )

    github, uploads = [], []
    for system in systems[:4]:
        name = f"load {run} github {system.slug}"
        creds = source_create(actor="system:load", kind="github", name=name, system=system)
        github.append({"id": creds.source.pk, "secret": creds.secret})
    for system in systems[:2]:
        name = f"load {run} ci {system.slug}"
        creds = source_create(actor="system:load", kind="generic-ci", name=name, system=system)
        uploads.append({"id": creds.source.pk, "token": creds.token})

    from apps.accounts.scoping import scope_evidence

    auditor = User.objects.get(username=auditors[0]["username"])
    visible = scope_evidence(auditor, Evidence.objects.all())
    evidence = list(visible.order_by("-pk").values_list("pk", flat=True)[:200])
    seen = Artifact.objects.filter(evidence_links__evidence__in=visible).distinct()
    in_lineage = seen.filter(Q(downstream_edges__isnull=False) | Q(upstream_edges__isnull=False)).distinct()
    artifacts = list(in_lineage.values_list("pk", flat=True)[:60]) or list(seen.values_list("pk", flat=True)[:60])
    fixture = {
        "run": run,
        "started": now.isoformat(),
        "engagement": engagement.pk,
        "auditors": auditors,
        "github_sources": github,
        "upload_sources": uploads,
        "systems": [s.slug for s in systems],
        # Packs of systems the traffic does not write to: each pack has the same size all run long.
        "pack_systems": [s.slug for s in systems[4:]] or [systems[-1].slug],
        "pack_period": [(now - timedelta(days=365)).date().isoformat(), now.date().isoformat()],
        "repos": [f"acme/{s.slug}" for s in systems],
        "artifacts": artifacts,
        "evidence": evidence,
        "search_terms": ["payments", "model", "sbom", "release", "pytest", "credit", "clinical", "deploy", "sha256"],
    }
    Path(out).write_text(json.dumps(fixture, indent=1))
    print(f"seeded load run {run}: {len(systems)} systems, {len(evidence)} evidence, {len(artifacts)} artifacts")


def count(fixture_path: str) -> None:
    """Receipts of this run's sources by channel and state, and the run's packs by status."""
    import django

    django.setup()
    from django.db.models import Count

    from apps.ingest.models import Receipt
    from apps.packs.models import Pack

    fixture = json.loads(Path(fixture_path).read_text())
    sources = [s["id"] for s in fixture["github_sources"] + fixture["upload_sources"]]
    receipts = Receipt.objects.filter(source_id__in=sources).values("channel", "state").annotate(n=Count("id"))
    failed = list(
        Receipt.objects.filter(source_id__in=sources, state=Receipt.State.FAILED).values_list("error", flat=True)[:5]
    )
    run_packs = Pack.objects.filter(requester__username__in=[a["username"] for a in fixture["auditors"]],
                                    requested_at__gte=fixture["started"])
    packs = run_packs.values("status").annotate(n=Count("id"))
    pack_errors = list(run_packs.filter(status="failed").values_list("error", flat=True)[:5])
    build_seconds = sorted((p.built_at - p.requested_at).total_seconds() for p in run_packs.filter(status="built"))
    # Every 202 the client saw must be a receipt of this run; receipts beyond those are requests
    # still in flight when locust stopped (accepted by the portal, answer not read by the client).
    accepted_file = Path(os.environ.get("LOAD_ACCEPTED_OUT", "/nonexistent"))
    acknowledged = json.loads(accepted_file.read_text()) if accepted_file.exists() else {}
    stored = {str(pk) for pk in Receipt.objects.filter(source_id__in=sources).values_list("pk", flat=True)}
    seen = {str(pk) for ids in acknowledged.values() for pk in ids}
    print(json.dumps({
        "acknowledged": {channel: len(ids) for channel, ids in acknowledged.items()},
        "acknowledged_duplicates": sum(len(ids) for ids in acknowledged.values()) - len(seen),
        "acknowledged_missing": sorted(seen - stored)[:20],
        "unacknowledged_receipts": len(stored - seen),
        "receipts": {f"{r['channel']}:{r['state']}": r["n"] for r in receipts},
        "receipt_errors": failed,
        "packs": {p["status"]: p["n"] for p in packs},
        "pack_errors": pack_errors,
        "pack_build_seconds": [round(x, 1) for x in build_seconds],
    }))


if __name__ == "__main__":
    {"seed": main, "count": count}[sys.argv[1]](sys.argv[2])
