import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from apps.inventory.models import System
from apps.inventory.services import system_save

pytestmark = pytest.mark.django_db


def _system(**kw):
    defaults = {"name": "Triage model", "slug": "triage", "risk_tier": "high", "kind": System.Kind.ML_MODEL}
    return System(**{**defaults, **kw})


def test_compliance_officer_creates_system_with_owners_and_environments(compliance_officer, risk_owner):
    system = system_save(
        actor=compliance_officer, system=_system(data_classes=["phi"]), risk_owners=[risk_owner],
        environments=["staging", "prod"],
    )
    system.refresh_from_db()
    assert list(system.risk_owners.all()) == [risk_owner]
    assert sorted(system.environments.values_list("name", flat=True)) == ["prod", "staging"]
    assert system.data_classes == ["phi"]


def test_saving_again_replaces_the_environment_set(compliance_officer):
    system = system_save(actor=compliance_officer, system=_system(), environments=["dev", "prod"])
    system_save(actor=compliance_officer, system=system, environments=["prod"])
    assert list(system.environments.values_list("name", flat=True)) == ["prod"]


@pytest.mark.parametrize("role_fixture", ["engineer", "risk_owner", "auditor"])
def test_other_roles_cannot_create_systems(role_fixture, request):
    actor = request.getfixturevalue(role_fixture)
    with pytest.raises(PermissionDenied):
        system_save(actor=actor, system=_system())
    assert not System.objects.exists()


def test_invalid_risk_tier_is_refused(compliance_officer):
    with pytest.raises(ValidationError):
        system_save(actor=compliance_officer, system=_system(risk_tier="extreme"))
    assert not System.objects.exists()
