"""OPA decision logs: JSON Lines from the console/file logger, or the JSON array OPA posts.

Each event carries decision_id, path (or query), input, result, timestamp, labels
{id, app, version}, bundles {name: {revision}}, requested_by and, where masking ran,
erased/masked. Console lines also carry level/msg/time/type; lines without a
decision_id (OPA's other server logs) are skipped and counted. Blank lines are
ignored; any other line that is not a JSON object is an error naming the line.

The input is never stored: each record keeps `input_sha256`, the sha256 of the
input as canonical JSON (keys sorted, separators "," and ":", UTF-8, non-ASCII kept),
so the same input always gives the same hash; "" when the event has no input.

How a result is read (outcome allow / deny / undefined / unknown):
- true / false (also the strings "true"/"false"): allow / deny; but when the queried
  rule is named deny, violation(s) or warn (last path segment), true means deny.
- a list or set (such rules queried directly): empty is allow, non-empty is deny.
- an object: "allow" or "allowed" (bool) decides; else "response.allowed" (an
  AdmissionReview); else a "deny"/"violation"/"violations" list (empty = allow).
- no result (an undefined decision, or one erased by masking): undefined.
- anything else (numbers, other strings or objects): unknown.

Records: one per decision {decision_id, path, timestamp, outcome, result_type,
messages (deny reasons, capped), input_sha256, bundles, labels, requested_by, erased}.
Verdict: fail if any decision is a deny; pass if at least one allow and no deny;
info otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    guard,
    iso,
    json_type,
    load_json,
    parse_datetime,
    plural,
    text,
)

LABEL = "OPA decision log"
DENY_RULES = ("deny", "violation", "violations", "warn", "warning", "warnings")
MAX_MESSAGES = 5


def input_sha256(value) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _messages(items) -> list[str]:
    out = []
    for item in items if isinstance(items, (list, tuple)) else [items]:
        if isinstance(item, str):
            out.append(text(item, 200))
        elif isinstance(item, dict):
            message = item.get("msg") or item.get("message") or item.get("reason")
            out.append(text(message, 200) if isinstance(message, str) else "")
        if len(out) >= MAX_MESSAGES:
            break
    return [m for m in out if m]


def interpret(path: str, event: dict) -> tuple[str, list[str]]:
    """(allow|deny|undefined|unknown, deny messages) for one decision."""
    if "result" not in event or event["result"] is None:
        return "undefined", []
    result = event["result"]
    rule = path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    denying_rule = rule in DENY_RULES
    if isinstance(result, str) and result in ("true", "false"):
        result = result == "true"
    if isinstance(result, bool):
        if denying_rule:
            return ("deny" if result else "allow"), []
        return ("allow" if result else "deny"), []
    if isinstance(result, list):
        return ("deny" if result else "allow"), _messages(result)
    if isinstance(result, dict):
        for key in ("allow", "allowed"):
            if isinstance(result.get(key), bool):
                reasons = result.get("reasons", result.get("deny", result.get("violations")))
                return ("allow" if result[key] else "deny"), ([] if result[key] else _messages(reasons))
        response = result.get("response")
        if isinstance(response, dict) and isinstance(response.get("allowed"), bool):
            status = response.get("status") if isinstance(response.get("status"), dict) else {}
            return ("allow" if response["allowed"] else "deny"), _messages(status.get("message") or [])
        for key in ("deny", "violation", "violations"):
            if isinstance(result.get(key), list):
                return ("deny" if result[key] else "allow"), _messages(result[key])
    return "unknown", []


def _events(body: bytes) -> tuple[list[dict], int]:
    """Decision events and the number of skipped non-decision lines."""
    start = bytes(body[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        data = load_json(body, LABEL)
        if not isinstance(data, list):
            raise ParseError(f"{LABEL}: expected a JSON array of decision events")
        lines = [(index + 1, item) for index, item in enumerate(data)]
        noun = "element"
    else:
        lines = []
        for number_, raw in enumerate(bytes(body).splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                lines.append((number_, load_json(raw, LABEL)))
            except ParseError as exc:
                raise ParseError(f"{LABEL}: line {number_}: {str(exc).removeprefix(LABEL + ': ')}") from None
        noun = "line"
    events, skipped = [], 0
    for position, item in lines:
        if not isinstance(item, dict):
            raise ParseError(f"{LABEL}: {noun} {position} is {json_type(item)}, expected a decision event object")
        if "decision_id" not in item:
            skipped += 1
            continue
        events.append(item)
    if not events:
        raise ParseError(f"{LABEL}: no decision events (objects with a decision_id) found")
    return events, skipped


@guard(LABEL)
def parse_opa(body: bytes) -> ParseResult:
    """One evidence item for the file, one record per decision; see the module docstring."""
    events, skipped = _events(body)
    records = []
    outcomes: Counter = Counter()
    paths: Counter = Counter()
    bundles: dict[str, set] = {}
    instances = set()
    times = []
    for event in events:
        path = text(event.get("path") or event.get("query"), 300)
        outcome, messages = interpret(path, event)
        stamp = parse_datetime(event.get("timestamp")) or parse_datetime(event.get("time"))
        if stamp:
            times.append(stamp)
        event_bundles = {}
        if isinstance(event.get("bundles"), dict):
            for name, info in list(event["bundles"].items())[:20]:
                revision = text(info.get("revision"), 200) if isinstance(info, dict) else ""
                event_bundles[text(name, 100)] = revision
                bundles.setdefault(text(name, 100), set()).add(revision)
        elif isinstance(event.get("revision"), str):  # OPA before 0.13 logged one revision
            event_bundles[""] = text(event["revision"], 200)
        labels = event.get("labels") if isinstance(event.get("labels"), dict) else {}
        labels = {text(k, 50): text(v, 200) for k, v in list(labels.items())[:20]}
        if labels.get("id"):
            instances.add(labels["id"])
        result = event.get("result")
        records.append(
            {
                "decision_id": text(event.get("decision_id"), 200),
                "path": path,
                "timestamp": iso(stamp),
                "outcome": outcome,
                "result_type": json_type(result) if "result" in event else "absent",
                "messages": messages,
                "input_sha256": input_sha256(event["input"]) if "input" in event else "",
                "bundles": event_bundles,
                "labels": labels,
                "requested_by": text(event.get("requested_by"), 200),
                "erased": [text(e, 200) for e in event.get("erased", []) if isinstance(e, str)][:20]
                if isinstance(event.get("erased"), list)
                else [],
            }
        )
        outcomes[outcome] += 1
        paths[path or "(no path)"] += 1
    denied = [r for r in records if r["outcome"] == "deny"]
    if denied:
        verdict = "fail"
        first = denied[0]
        detail = f" (first: {first['path']}" + (f": {first['messages'][0]}" if first["messages"] else "") + ")"
        reason = f"{plural(len(denied), 'decision')} denied of {len(records)}" + detail
    elif outcomes["allow"]:
        verdict, reason = "pass", f"all {plural(outcomes['allow'], 'decisive decision')} allowed"
    else:
        verdict, reason = "info", "no decision allowed or denied anything"
    effective_at = max(times) if times else None
    summary = {
        "decisions_total": len(records),
        "by_outcome": {k: outcomes[k] for k in ("allow", "deny", "undefined", "unknown")},
        "by_path": dict(paths.most_common(MAX_LIST)),
        "denied": [
            {"decision_id": r["decision_id"], "path": r["path"], "timestamp": r["timestamp"], "messages": r["messages"]}
            for r in denied[:MAX_LIST]
        ],
        "bundles": {name: sorted(revs)[:MAX_LIST] for name, revs in list(bundles.items())[:MAX_LIST]},
        "opa_instances": sorted(instances)[:MAX_LIST],
        "first_at": iso(min(times)) if times else "",
        "last_at": iso(effective_at),
        "skipped_lines": skipped,
    }
    title = f"OPA decisions: {plural(len(records), 'decision')}, {len(denied)} denied"
    evidence = EvidenceFacts(
        kind="policy-decisions",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=records,
    )
    return ParseResult(format="opa", evidence=[evidence])
