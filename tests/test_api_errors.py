"""One mapping of domain errors to API answers: the global DRF exception handler.

A service raises Django's exceptions (ValidationError, PermissionDenied, Http404) or the one
InvalidTransition; every API view answers them the same way, with the contract's {"error": "..."}.
"""

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from apps.common.states import InvalidTransition
from compliance_portal.api import exception_handler

ANSWERS = [
    pytest.param(InvalidTransition("EX-1 is expired; it cannot become pending"), 409,
                 "EX-1 is expired; it cannot become pending", id="invalid-transition"),  # fmt: skip
    pytest.param(ValidationError("say why the release is rejected"), 400, "say why the release is rejected",
                 id="validation-error"),  # fmt: skip
    pytest.param(ValidationError(["too long", "too late"]), 400, "too long; too late", id="validation-errors"),
    pytest.param(ValidationError({"comment": ["say why"], "expires_at": ["too far"]}), 400,
                 "comment: say why; expires_at: too far", id="validation-error-by-field"),  # fmt: skip
    pytest.param(PermissionDenied("Auditors never decide on exceptions."), 403,
                 "Auditors never decide on exceptions.", id="permission-denied"),  # fmt: skip
    pytest.param(Http404("No such pack."), 404, "No such pack.", id="not-found"),
]


@pytest.mark.parametrize(("exc", "status", "error"), ANSWERS)
def test_a_service_refusal_gets_the_contract_error_body_and_status_from_the_global_handler(exc, status, error):
    response = exception_handler(exc, {})
    assert response is not None, "the handler must answer it (else the API answers 500)"
    assert response.status_code == status and response.data == {"error": error}


def test_no_api_module_translates_domain_errors_itself():
    apps_dir = Path(__file__).resolve().parents[1] / "apps"
    translating = sorted(
        str(p.relative_to(apps_dir))
        for p in apps_dir.rglob("api*.py")
        for line in p.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("except") and any(
            name in line for name in ("DjangoValidationError", "DjangoPermissionDenied", "InvalidTransition")
        )
    )
    assert translating == []
