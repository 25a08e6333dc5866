"""Evidence is never edited or deleted: the database refuses it."""

import pytest
from django.db import DatabaseError, transaction

from apps.evidence.models import Evidence, EvidenceRecord

pytestmark = pytest.mark.django_db


def test_database_refuses_to_edit_or_delete_evidence(parsed_evidence):
    evidence = Evidence.objects.get(kind="test-report")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Evidence.objects.filter(pk=evidence.pk).update(verdict="pass")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        EvidenceRecord.objects.filter(evidence=evidence).delete()
    assert Evidence.objects.get(pk=evidence.pk).verdict == "fail"
