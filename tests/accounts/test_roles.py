import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create, user_set_roles
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_compliance_officer_may_edit_systems_and_engineer_may_not(compliance_officer, engineer):
    assert compliance_officer.has_perm("inventory.change_system")
    assert compliance_officer.has_perm("inventory.add_system")
    assert engineer.has_perm("inventory.view_system")
    assert not engineer.has_perm("inventory.change_system")


def test_admin_role_gives_django_admin_access_and_removing_it_takes_it_away(make_user):
    user = make_user(Role.ADMIN)
    assert user.is_staff
    user = user_set_roles(user=user, roles=[Role.ENGINEER])
    user.refresh_from_db()
    assert not user.is_staff
    assert user.roles == {Role.ENGINEER}


def test_unknown_role_is_refused_and_creates_nothing():
    with pytest.raises(ValueError, match="unknown role"):
        user_create(username="mallory", password="x" * 20, roles=["superhero"])
    assert not User.objects.filter(username="mallory").exists()


def test_assign_role_command_adds_and_removes_roles(make_user, capsys):
    user = make_user(Role.ENGINEER, username="sam")
    call_command("assign_role", "sam", Role.RISK_OWNER)
    assert User.objects.get(pk=user.pk).roles == {Role.ENGINEER, Role.RISK_OWNER}
    call_command("assign_role", "sam", Role.ENGINEER, "--remove")
    assert User.objects.get(pk=user.pk).roles == {Role.RISK_OWNER}
    assert "risk_owner" in capsys.readouterr().out


def test_login_page_signs_in_with_the_right_password_only(client, engineer):
    bad = client.post("/accounts/login/", {"username": engineer.username, "password": "wrong"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    good = client.post("/accounts/login/", {"username": engineer.username, "password": TEST_PASSWORD})
    assert good.status_code == 302 and good["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == engineer.pk


def test_logout_needs_post_and_ends_the_session(client, engineer):
    client.force_login(engineer)
    assert client.get("/accounts/logout/").status_code == 405
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session
