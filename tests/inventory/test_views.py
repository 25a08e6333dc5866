import pytest

from apps.inventory.models import System
from apps.inventory.services import system_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def systems(compliance_officer, risk_owner, engineer):
    made = []
    for i in range(12):
        made.append(system_save(
            actor=compliance_officer,
            system=System(name=f"System {i}", slug=f"system-{i}", risk_tier="medium"),
            risk_owners=[risk_owner], engineering_owners=[engineer], environments=["dev", "prod"],
        ))
    return made


@pytest.fixture
def auditor(make_user, systems):
    """An auditor in an open engagement over every system (issue 9: auditors see only their engagements')."""
    from tests.engagements.conftest import engaged_auditor

    return engaged_auditor(make_user, systems)


def test_system_list_runs_a_bounded_number_of_queries(client, auditor, systems, django_assert_max_num_queries):
    client.force_login(auditor)
    # 12, plus for an auditor: their open engagements (2), the access-log ledger entry (3 with its
    # savepoint), and the unread-notification count (1).
    with django_assert_max_num_queries(18):
        response = client.get("/systems/")
    assert response.status_code == 200
    assert response.content.count(b'href="/systems/system-') == 12


def test_compliance_officer_creates_a_system_through_the_form(client, compliance_officer, risk_owner):
    client.force_login(compliance_officer)
    response = client.post("/systems/new/", {
        "name": "Claims API", "slug": "claims-api", "kind": "service", "risk_tier": "high",
        "data_classes": ["phi"], "frameworks": ["hipaa"], "environments": ["prod"],
        "risk_owners": [risk_owner.pk],
    })
    assert response.status_code == 302 and response["Location"] == "/systems/claims-api/"
    system = System.objects.get(slug="claims-api")
    assert system.frameworks == ["hipaa"] and list(system.risk_owners.all()) == [risk_owner]


def test_form_errors_are_shown_and_nothing_is_saved(client, compliance_officer):
    client.force_login(compliance_officer)
    response = client.post("/systems/new/", {"name": "", "slug": "bad slug!", "kind": "service", "risk_tier": "high"})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not System.objects.exists()


def test_engineer_sees_systems_read_only_and_cannot_open_the_editor(client, engineer, systems):
    client.force_login(engineer)
    detail = client.get("/systems/system-1/")
    assert detail.status_code == 200 and b"/systems/system-1/edit/" not in detail.content
    assert client.get("/systems/system-1/edit/").status_code == 403
    assert client.post("/systems/new/", {"name": "x", "slug": "x"}).status_code == 403


def test_api_lists_systems_for_signed_in_users_only(client, auditor, systems):
    assert client.get("/api/v1/systems/").status_code == 403
    client.force_login(auditor)
    body = client.get("/api/v1/systems/?risk_tier=medium").json()
    assert body["count"] == 12
    assert body["results"][0]["environments"] == ["dev", "prod"]
