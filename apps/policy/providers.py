"""What apps above policy contribute to evaluation and the gate, registered from their ready().

Policy is below governance, so it names no governance app: the exceptions app registers the
function that says whether an approved exception covers a failing result, and release sign-off
registers the items it adds to a gate decision. Registration happens in each provider's
AppConfig.ready(), before any request or task runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# (control_id, system_id, artifact_id, at) -> id of the covering exception, or None
CoverageProvider = Callable[[int, int, "int | None", datetime], "int | None"]
# (artifact, environment, digest) -> gate items that block, in the gate's format
GateItemProvider = Callable[..., list[dict]]

_coverage_providers: dict[str, CoverageProvider] = {}
_gate_item_providers: dict[str, GateItemProvider] = {}


def coverage_provider_register(name: str, provider: CoverageProvider) -> None:
    """Let `provider` turn a failing or missing result into an excepted one (e.g. approved exceptions)."""
    _coverage_providers[name] = provider


def gate_item_provider_register(name: str, provider: GateItemProvider) -> None:
    """Let `provider(artifact=, environment=, digest=)` add blocking items to every gate decision."""
    _gate_item_providers[name] = provider


def covering_exception_id(control_id: int, system_id: int, artifact_id: int | None, at: datetime) -> int | None:
    """The id the first registered coverage provider returns for this result, or None."""
    for provider in _coverage_providers.values():
        covered = provider(control_id, system_id, artifact_id, at)
        if covered is not None:
            return covered
    return None


def gate_items(*, artifact, environment: str = "", digest: str = "") -> list[dict]:
    """Blocking items from every registered gate item provider, in registration order."""
    items: list[dict] = []
    for provider in _gate_item_providers.values():
        items += provider(artifact=artifact, environment=environment, digest=digest)
    return items
