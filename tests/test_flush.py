"""tests/flush.py: the flush between transactional tests empties what the test wrote and keeps the rows
post_migrate writes; a test that changed those rows gets Django's full flush."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from apps.accounts.roles import Role
from tests import flush

pytestmark = pytest.mark.django_db(transaction=True)


class _Case(TransactionTestCase):
    __test__ = False  # a flusher, not a test
    databases = {"default"}

    def runTest(self):  # noqa: N802 - unittest's name
        pass


def _user_type_id() -> int:
    ContentType.objects.clear_cache()
    return ContentType.objects.get_for_model(get_user_model()).pk


def test_the_flush_keeps_unchanged_post_migrate_rows_and_redoes_them_when_a_test_changed_them(make_user):
    case = _Case()
    case._fixture_teardown()  # whichever way: afterwards the reference rows are known
    reference = flush._plans["default"].digests
    assert {"django_content_type", "auth_permission"} <= set(reference)
    assert "accounts_user" in flush._plans["default"].delete  # a kept rule version may name its author

    make_user(Role.ENGINEER)
    kept_id, digests = _user_type_id(), flush._digests(connection, reference)
    case._fixture_teardown()  # nothing post_migrate wrote changed: the short way
    assert not get_user_model().objects.exists(), "what the test wrote is gone"
    assert flush._digests(connection, reference) == digests
    assert _user_type_id() == kept_id, "the reference rows were kept, not written again"

    make_user(Role.ENGINEER)
    Permission.objects.filter(codename="view_user").delete()
    case._fixture_teardown()  # a reference row changed: Django's full flush and post_migrate
    assert not get_user_model().objects.exists()
    assert Permission.objects.filter(codename="view_user").exists(), "post_migrate wrote it again"
    assert _user_type_id() != kept_id, "a full flush renews the reference rows"
    assert flush._digests(connection, reference) != digests
