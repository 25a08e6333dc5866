"""A worker process killed with SIGKILL mid-work: the parse of a large SBOM and the build of an
evidence pack are each done again, once, and nothing is written twice.

The kill lands on the pool process that runs the task (what the kernel's OOM killer picks);
the worker's main process sees it die and, because tasks are acks_late with
reject_on_worker_lost, hands the message back to Redis at once. The redelivered task takes the
work over from the dead attempt: a receipt left "parsing" (the attempt number guards its
finish), a pack whose build lease lapsed (the build token guards its steps).
"""

from __future__ import annotations

import json
import os
import signal
from datetime import date, timedelta

import requests

from apps.packs.offline.core import verify_pack
from tests.faults.client import WebhookClient
from tests.faults.helpers import record_figures, signed_in, wait_settled
from tests.faults.stack import wait_for

COMPONENTS = 15_000  # seconds to parse (one artifact, edge and record each): time to be killed mid-way


def big_sbom(n: int) -> bytes:
    """A CycloneDX 1.5 SBOM of n components in one dependency chain (an artifact, an edge and a record each)."""
    components = [
        {"type": "library", "bom-ref": f"dep-{i}", "name": f"fault-dep-{i}", "version": f"1.0.{i}",
         "purl": f"pkg:pypi/fault-dep-{i}@1.0.{i}", "licenses": [{"license": {"id": "MIT"}}]}
        for i in range(n)
    ]
    return json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "metadata": {"timestamp": "2026-11-01T00:00:00Z",
                     "component": {"type": "application", "bom-ref": "app", "name": "fault-app", "version": "1.0",
                                   "purl": "pkg:pypi/fault-app@1.0"}},
        "components": components,
        "dependencies": [{"ref": "app", "dependsOn": ["dep-0"]}]
        + [{"ref": f"dep-{i}", "dependsOn": [f"dep-{i + 1}"]} for i in range(n - 1)],
    }).encode()


def _receipt(stack, receipt_id: int) -> dict:
    state, attempts, error = stack.sql("SELECT state, attempts, error FROM ingest_receipt WHERE id = %s",
                                       [receipt_id])[0]
    return {"state": state, "attempts": attempts, "error": error}


def test_a_worker_killed_while_parsing_parses_the_receipt_again_once(stack):
    creds = stack.setup["sources"]["ci-kill"]
    response = requests.post(
        f"{stack.base_url}/api/v1/evidence",
        headers={"Authorization": f"Bearer {creds['token']}", "Idempotency-Key": "fault-kill-sbom"},
        files={"file": ("app.cdx.json", big_sbom(COMPONENTS), "application/json")},
        data={"subject": "pkg:pypi/fault-app@1.0", "kind": "cyclonedx"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    receipt_id = int(response.json()["receipt"])

    wait_for(lambda: _receipt(stack, receipt_id)["state"] == "parsing", timeout=30, interval=0.02,
             what="the worker claimed the receipt")
    pid = stack.active_task_pid("default", "apps.ingest.tasks.receipt_parse")
    assert _receipt(stack, receipt_id) == {"state": "parsing", "attempts": 1, "error": ""}, "killed mid-parse"
    os.kill(pid, signal.SIGKILL)

    settled = wait_settled(stack, "ci-kill", 1, timeout=60)
    receipt = _receipt(stack, receipt_id)
    assert settled == {"parsed": 1}
    assert receipt["attempts"] == 2, "claimed once by the killed process, once by the redelivered task"
    generations = stack.sql("SELECT generation, count(*) FROM evidence_evidence WHERE receipt_id = %s "
                            "GROUP BY generation", [receipt_id])
    assert generations == [(2, 1)], "only the finished attempt wrote evidence: one item"
    records = stack.scalar("SELECT count(*) FROM evidence_evidencerecord r JOIN evidence_evidence e "
                           "ON e.id = r.evidence_id WHERE e.receipt_id = %s", [receipt_id])
    assert records == COMPONENTS
    report = stack.reconcile("ci-kill", sent=1, accepted=1)
    assert report["ok"], report["problems"]
    record_figures(stack, "worker_killed_while_parsing", {
        "sent": 1, "accepted": 1, "503s": 0, "parsed": settled.get("parsed", 0), "failed": settled.get("failed", 0),
        "attempts": receipt["attempts"], "evidence_generations": len(generations),
        "duplicates": report["total"]["parsed_more_than_once"], "sbom_components": COMPONENTS,
    })


PACK_DELIVERIES = 60  # with PORTAL_PACK_CHUNK_ROWS=20 (the stack's), a PDF of several chunks


def _pack(stack, pack_id: int) -> dict:
    status, stage, attempts, file, token, error = stack.sql(
        "SELECT status, stage, attempts, file, build_token, error FROM packs_pack WHERE id = %s", [pack_id])[0]
    return {"status": status, "stage": stage, "attempts": attempts, "file": file, "token": token, "error": error}


def _pack_actions(stack, pack_id: int) -> list[str]:
    return [action for (action,) in stack.sql(
        "SELECT action FROM ledger_entry WHERE object_type = 'packs.pack' AND object_id = %(id)s "
        "UNION ALL SELECT action FROM ledger_pending WHERE object_type = 'packs.pack' AND object_id = %(id)s",
        {"id": str(pack_id)})]


def test_a_worker_killed_while_building_a_pack_builds_it_again_once(stack):
    creds = stack.setup["sources"]["gh-pack"]
    client = WebhookClient(stack.base_url, creds["id"], creds["secret"])
    client.deliver_all([client.delivery(n, label="pack") for n in range(PACK_DELIVERIES)])
    wait_settled(stack, "gh-pack", PACK_DELIVERIES)

    browser = signed_in(stack)
    response = browser.post(f"{stack.base_url}/api/v1/packs", timeout=30,
                            headers={"X-CSRFToken": browser.cookies["csrftoken"]},
                            json={"kind": "system", "system": "fault-packs", "start": "2000-01-01",
                                  "end": (date.today() + timedelta(days=1)).isoformat()})
    assert response.status_code == 202, response.text
    pack_id = response.json()["id"]

    wait_for(lambda: _pack(stack, pack_id)["stage"] == "rendering", timeout=90, interval=0.05,
             what="the build reached rendering")
    (child,) = stack.processes["heavy"].children()  # --concurrency 1: the one pool process builds it
    os.kill(child, signal.SIGKILL)
    killed = _pack(stack, pack_id)
    assert killed["status"] == "building" and killed["attempts"] == 1

    built = wait_for(lambda: (p := _pack(stack, pack_id))["status"] in ("built", "failed") and p, timeout=150,
                     interval=0.2, what="the pack built again")
    assert built["status"] == "built", built["error"]
    assert built["attempts"] == 2, "one interrupted attempt, one complete one"
    packs = stack.app_var / "packs"
    assert [p.name for p in (packs / "files").iterdir()] == [f"evidence-pack-{pack_id:06d}.zip"]
    # The finished attempt removes its build directory just after it commits "built".
    wait_for(lambda: not list((packs / "build").iterdir()), timeout=15, what="no build directory left behind")
    tokens = {t for (t,) in stack.sql("SELECT DISTINCT build_token FROM packs_packchunk WHERE pack_id = %s",
                                      [pack_id])}
    assert tokens == {built["token"]}, "only the finished attempt's chunks remain"
    report = verify_pack(packs / built["file"])
    assert report.evidence == PACK_DELIVERIES
    actions = _pack_actions(stack, pack_id)
    assert actions.count("pack.built") == 1 and actions.count("pack.build_restarted") == 1
    record_figures(stack, "worker_killed_while_building_a_pack", {
        "sent": PACK_DELIVERIES, "accepted": client.tally.accepted, "evidence_in_pack": report.evidence,
        "attempts": built["attempts"], "zip_files": 1, "built_entries": actions.count("pack.built"),
        "duplicates": actions.count("pack.built") - 1,
    })
