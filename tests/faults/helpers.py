"""Reads of the fault database that the fault tests share, and where their figures go."""

from __future__ import annotations

import json
import time

import requests

from tests.faults.stack import FaultStack, wait_for


def receipt_states(stack: FaultStack, source_name: str) -> dict[str, int]:
    rows = stack.sql(
        "SELECT r.state, count(*) FROM ingest_receipt r JOIN ingest_source s ON s.id = r.source_id "
        "WHERE s.name = %s GROUP BY r.state", [source_name])
    return dict(rows)


def wait_settled(stack: FaultStack, source_name: str, expected: int, *, timeout: float = 90,
                 sweep_every: float | None = None) -> dict[str, int]:
    """Wait until `expected` receipts of the source are parsed or failed. With sweep_every, send the
    receipt sweep task that often meanwhile (beat sends it every minute in production)."""
    last_sweep = 0.0

    def settled():
        nonlocal last_sweep
        stack.supervise()
        if sweep_every is not None and time.monotonic() - last_sweep > sweep_every:
            stack.send_task("apps.ingest.tasks.receipt_sweep")
            last_sweep = time.monotonic()
        states = receipt_states(stack, source_name)
        done = states.get("parsed", 0) + states.get("failed", 0)
        return states if done >= expected else None

    return wait_for(settled, timeout=timeout, interval=0.3, what=f"{expected} receipts of {source_name} settled")


def evidence_per_receipt(stack: FaultStack, source_name: str) -> dict[int, int]:
    """Evidence rows per receipt of the source (any generation): 1 each means nothing was parsed twice."""
    rows = stack.sql(
        "SELECT r.id, count(e.id) FROM ingest_receipt r JOIN ingest_source s ON s.id = r.source_id "
        "LEFT JOIN evidence_evidence e ON e.receipt_id = r.id WHERE s.name = %s GROUP BY r.id", [source_name])
    return dict(rows)


def record_figures(stack: FaultStack, name: str, figures: dict) -> None:
    """Keep a fault run's figures: printed (pytest -s / -rP shows them) and in var/fault*/logs/figures.json."""
    print(f"fault figures {name}: {json.dumps(figures, sort_keys=True)}")
    path = stack.logs / "figures.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[name] = figures
    path.write_text(json.dumps(existing, indent=2, sort_keys=True))


def signed_in(stack: FaultStack, username: str = "officer") -> requests.Session:
    """A browser-like session of a signed-in user (the login form, CSRF token included)."""
    from tests.faults.stack import OFFICER_PASSWORD

    session = requests.Session()
    login = f"{stack.base_url}/accounts/login/"
    session.get(login, timeout=30)
    response = session.post(login, timeout=30, allow_redirects=False, headers={"Referer": login}, data={
        "username": username, "password": OFFICER_PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"],
    })
    assert response.status_code == 302, response.text[:500]
    assert session.get(f"{stack.base_url}/", timeout=30).status_code == 200
    return session
