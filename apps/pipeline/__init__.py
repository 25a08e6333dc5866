"""What happens after evidence is recorded: the one place that says which steps run, in which order.

receipt_parse (apps.ingest) records evidence, then, in the same transaction, calls the hook this
module registers with intake (apps.ingest.hooks). The pipeline runs the steps of STEPS in that
order. Each step is registered by the app that provides it, from its AppConfig.ready(), so the
pipeline imports no consumer and intake imports neither the pipeline nor its consumers:

    step                    registered by     does
    retention.identifiers   apps.retention    flags evidence whose body holds direct identifiers
    releases.track          apps.releases     a release whose CI metadata names a change class asks for sign-off
    policy.evaluate         apps.policy       asks (a row) for an evaluation of what the evidence is about
    search.index            apps.search       queues, after commit, indexing of the words inside the evidence

A step is `step(*, receipt, evidence, body)`; it runs inside receipt_parse's transaction (its
writes and ledger entries commit or roll back with the evidence) and schedules anything slow
with transaction.on_commit. A step nobody registered is skipped.

A plain package (no models, no app config): its layer sits between intake and policy.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

from apps.ingest.hooks import evidence_recorded_hook_register

STEPS = ("retention.identifiers", "releases.track", "policy.evaluate", "search.index")

Step = Callable[..., object]
_steps: dict[str, Step] = {}


def pipeline_step_register(name: str, step: Step) -> None:
    """Register the step `name` (one of STEPS); registering a name again replaces its step."""
    if name not in STEPS:
        raise ImproperlyConfigured(f"pipeline step {name!r} is not one of {', '.join(STEPS)}: add it to STEPS")
    _steps[name] = step


def pipeline_steps() -> list[str]:
    """Names of the registered steps, in the order they run."""
    return [name for name in STEPS if name in _steps]


def evidence_recorded(*, receipt, evidence: list, body: bytes) -> None:
    """Run every registered step, in the order of STEPS, in the caller's transaction."""
    for name in STEPS:
        step = _steps.get(name)
        if step is not None:
            step(receipt=receipt, evidence=evidence, body=body)


# Every step provider imports this module from its ready(), which connects the pipeline to intake.
evidence_recorded_hook_register(evidence_recorded)
