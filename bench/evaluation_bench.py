"""Policy evaluation after a burst of evidence, against the same rules evaluated in memory (issue 25).

``run(scale=...)`` works on a generate_scale data set (10k: 10,000 evidence items). The burst is every
piece of that evidence arriving at once: one evaluation request per artifact it is about, as the parse
writes them (``evaluation_request``), drained by ``policy_evaluate_pending()`` exactly as the worker
drains them (facts, rules in the bounded sandbox, advisory locks, the stored results read and compared,
changes written with their history and ledger entries, a transaction per batch). Rows:

- ``policy: evaluation after a burst``: subjects/s through ``policy_evaluate_pending``, against the same
  rules over the same subjects' facts already in memory (``prepare_facts`` + ``evaluate_rule`` in this
  process: no database, no sandbox, no writes). The ratio is what persistence and the facts cost.
- ``policy: CPU per subject``: this process's CPU plus its PostgreSQL backend's, against the in-memory
  evaluation's CPU per subject: the machine's cost, which other load does not inflate as it does wall time.
- ``policy: facts of a subject``: ``subject_facts_batch`` alone (the queries that gather each subject's
  evidence, lineage and approvals), subjects/s: the part of the gap that reading the facts explains.

The data set's results already exist (generate_scale evaluates), so most results come out unchanged and
the writes are what changed since; the first run after generation also writes what time moved (ages).
"""

from __future__ import annotations

import gc
import time

from bench.common import backend_cpu, django_setup, row

SCALED = True
BURST_LIMIT = 10_000  # subjects asked for at most (the 10k set has about that many)


def run(scale: str = "") -> list[dict]:
    django_setup()
    from django.db import transaction
    from django.utils import timezone

    from apps.evidence.models import Artifact, Evidence
    from apps.policy import facts as facts_mod
    from apps.policy.engine import prepare_facts
    from apps.policy.rulesets import evaluate_rule
    from apps.policy.services import current_rules, evaluation_request, policy_evaluate_pending, subjects_queryset
    from apps.policy.services.evaluation import BATCH, _downstream_ids

    gc.freeze()  # as each worker pool process does once set up (compliance_portal/celery.py)
    asked = sorted(
        set(Evidence.objects.filter(subject__isnull=False).values_list("subject_id", flat=True)[:BURST_LIMIT])
    )
    # What the drain evaluates: the artifacts asked for and everything downstream of them that is a subject.
    scope = list(
        subjects_queryset().filter(pk__in=set(asked) | set(_downstream_ids(asked))).order_by("pk").values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        evaluation_request(artifact_ids=asked)  # what the parses of the burst wrote

    backend, cpu, start = backend_cpu(), time.process_time(), time.perf_counter()
    changed = policy_evaluate_pending()
    full_s, full_cpu = time.perf_counter() - start, time.process_time() - cpu + backend_cpu() - backend

    # The same rules over the same subjects' facts, read first, then evaluated in memory.
    rules = [r.spec for r in current_rules() if not r.version.is_system_scope]
    now = timezone.now()
    backend, cpu, start = backend_cpu(), time.process_time(), time.perf_counter()
    facts: list[dict] = []
    for offset in range(0, len(scope), BATCH):
        batch = list(Artifact.objects.filter(pk__in=scope[offset : offset + BATCH]).order_by("pk"))
        facts.extend(facts_mod.subject_facts_batch(batch, now=now).values())
    facts_s, facts_cpu = time.perf_counter() - start, time.process_time() - cpu + backend_cpu() - backend
    cpu, start = time.process_time(), time.perf_counter()
    for subject in facts:
        prepared = prepare_facts(subject)
        for rule in rules:
            evaluate_rule(rule, prepared)
    bare_s, bare_cpu = time.perf_counter() - start, time.process_time() - cpu

    n = len(scope)
    label = f"{len(asked):,} artifacts asked, {n:,} subjects with what is downstream, {len(rules)} rules"
    return [
        row(f"policy: evaluation after a burst ({label}; {changed:,} results changed; {full_s:.1f} s)",
            n / full_s, "subjects/s", n / bare_s, "subjects/s, rules in memory"),
        row("policy: CPU per subject, evaluation after a burst (process + PostgreSQL)", 1e3 * full_cpu / n,
            "ms CPU", 1e3 * bare_cpu / n, "ms CPU, rules in memory"),
        row("policy: facts of a subject read from the database (subject_facts_batch)", n / facts_s, "subjects/s",
            n / bare_s, "subjects/s, rules in memory"),
        row("policy: CPU per subject, facts read (process + PostgreSQL)", 1e3 * facts_cpu / n, "ms CPU",
            1e3 * bare_cpu / n, "ms CPU, rules in memory"),
    ]  # fmt: skip


if __name__ == "__main__":
    for r in run():
        print(r)
