"""One state-machine helper: every model's refused move is the same InvalidTransition, a ValidationError."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.engagements.models import EvidenceRequest
from apps.exceptions.models import ExceptionRequest
from apps.ingest.models import Receipt
from apps.packs.models import Pack
from apps.releases.models import ReleaseSignoff
from apps.retention.models import LegalHold

# (an unsaved row in some status, a status it may not move to) for every model whose status moves along TRANSITIONS
REFUSED_MOVES = [
    pytest.param(
        EvidenceRequest(status=EvidenceRequest.Status.OPEN), EvidenceRequest.Status.ACCEPTED, id="engagements"
    ),  # fmt: skip
    pytest.param(
        ExceptionRequest(status=ExceptionRequest.Status.EXPIRED), ExceptionRequest.Status.PENDING, id="exceptions"
    ),  # fmt: skip
    pytest.param(Receipt(state=Receipt.State.QUEUED), Receipt.State.QUEUED, id="ingest"),
    pytest.param(Pack(status=Pack.Status.BUILT), Pack.Status.QUEUED, id="packs"),
    pytest.param(
        ReleaseSignoff(status=ReleaseSignoff.Status.APPROVED), ReleaseSignoff.Status.NOT_REQUIRED, id="releases"
    ),  # fmt: skip
    pytest.param(LegalHold(status=LegalHold.Status.RELEASED), LegalHold.Status.ACTIVE, id="retention"),
]


@pytest.mark.parametrize(("row", "status"), REFUSED_MOVES)
def test_a_caller_catching_validation_error_catches_every_models_invalid_transition(row, status):
    assert not row.can_move_to(status)
    with pytest.raises(ValidationError) as refused:
        row.ensure_can_move_to(status)
    # The message reads as a sentence, not as the repr of a list of messages.
    assert str(refused.value) == refused.value.messages[0] and "[" not in str(refused.value)


def test_invalid_transition_is_defined_once_and_is_a_validation_error():
    from apps.common.states import InvalidTransition

    assert issubclass(InvalidTransition, ValidationError)
    apps_dir = Path(__file__).resolve().parents[2] / "apps"
    defined_in = [str(p.relative_to(apps_dir)) for p in apps_dir.rglob("*.py")
                  if "class InvalidTransition" in p.read_text(encoding="utf-8")]  # fmt: skip
    assert defined_in == ["common/states.py"]
