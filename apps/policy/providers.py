"""What apps above policy contribute to evaluation and the gate, registered from their ready().

Policy is below governance, so it names no governance app: the exceptions app registers the
function that says which failing results approved exceptions cover, and release sign-off
registers the items it adds to a gate decision. Registration happens in each provider's
AppConfig.ready(), before any request or task runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# (control_id, system_id, artifact_id): a result of a control on a subject (artifact None: system scope)
CoverageKey = tuple[int, int, "int | None"]
# (keys of one evaluation batch, at) -> {key: id of the covering exception}, keys not covered left out;
# one query per call, however many keys (issue 22)
CoverageProvider = Callable[[list[CoverageKey], datetime], dict[CoverageKey, int]]
# (artifact, environment, digest) -> gate items that block, in the gate's format
GateItemProvider = Callable[..., list[dict]]

_coverage_providers: dict[str, CoverageProvider] = {}
_gate_item_providers: dict[str, GateItemProvider] = {}


def coverage_provider_register(name: str, provider: CoverageProvider) -> None:
    """Let `provider(keys, at)` turn failing or missing results into excepted ones (e.g. approved exceptions)."""
    _coverage_providers[name] = provider


def gate_item_provider_register(name: str, provider: GateItemProvider) -> None:
    """Let `provider(artifact=, environment=, digest=)` add blocking items to every gate decision."""
    _gate_item_providers[name] = provider


def covering_exception_ids(keys: list[CoverageKey], at: datetime) -> dict[CoverageKey, int]:
    """For a batch of results, the exception id that covers each one at `at`; uncovered keys are left out.

    Each registered provider is asked once, in registration order, about the keys the ones
    before it left uncovered: the first provider to cover a result decides it."""
    remaining = list(dict.fromkeys(keys))
    covered: dict[CoverageKey, int] = {}
    for provider in _coverage_providers.values():
        if not remaining:
            break
        asked = set(remaining)
        covered.update({key: exc for key, exc in provider(remaining, at).items() if key in asked and exc is not None})
        remaining = [key for key in remaining if key not in covered]
    return covered


def gate_items(*, artifact, environment: str = "", digest: str = "") -> list[dict]:
    """Blocking items from every registered gate item provider, in registration order."""
    items: list[dict] = []
    for provider in _gate_item_providers.values():
        items += provider(artifact=artifact, environment=environment, digest=digest)
    return items
