"""The one state-machine helper: a model's allowed moves are data (TRANSITIONS), checked here.

A model mixes in StateMachine and declares `TRANSITIONS` (status -> the statuses it may move
to); its services call `ensure_can_move_to(new)` before they write. A refused move raises
InvalidTransition, a Django ValidationError, so a caller that catches ValidationError catches
every refused move; the API answers it with 409 (compliance_portal.api.exception_handler).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import ClassVar

from django.core.exceptions import ValidationError


class InvalidTransition(ValidationError):
    """A status cannot move from where it is to where it was asked to go."""

    def __str__(self) -> str:
        # ValidationError's str() is the repr of its message list; pages and commands show this one.
        return " ".join(self.messages)


class StateMachine:
    """Mixin for a model whose `state_field` moves only along `TRANSITIONS`."""

    TRANSITIONS: ClassVar[Mapping[str, Collection[str]]]
    state_field: ClassVar[str] = "status"

    def _state_label(self, value: str) -> str:
        choices = dict(self._meta.get_field(self.state_field).flatchoices)
        return str(choices.get(value, value)).lower()

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(getattr(self, self.state_field), ())

    def ensure_can_move_to(self, status: str) -> None:
        if not self.can_move_to(status):
            raise InvalidTransition(self.transition_refusal(status))

    def ensure_status(self, *statuses: str) -> None:
        """InvalidTransition unless the row is in one of `statuses` (a move that starts only there)."""
        current = getattr(self, self.state_field)
        if current not in statuses:
            wanted = " or ".join(self._state_label(s) for s in statuses)
            raise InvalidTransition(f"{self} is {self._state_label(current)}, not {wanted}")

    def transition_refusal(self, status: str) -> str:
        """What a refused move says; a model overrides it for its own wording."""
        current = getattr(self, self.state_field)
        return f"{self} is {self._state_label(current)}; it cannot become {self._state_label(status)}"
