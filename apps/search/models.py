"""The search index of what lies inside evidence: one row per distinct value a parser stored in its detail rows.

Titles are searched through expression indexes on their own tables (migrations 0001, 0002); the words
inside evidence (a test's name, a failure message, a rule id, a path, a purl, a resource address) live
in EvidenceRecord JSON, which no index can read well. apps.search.content fills this table from those
rows when evidence is recorded (the pipeline step "search.index") and once for older evidence (0003).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models

CONFIG = "simple"  # the same text search configuration as registry.CONFIG: identifiers, no stemming


class EvidenceTextField(models.TextChoices):
    """Where inside the evidence a value was found, as the results say it ("matched in: …")."""

    TEST_NAME = "test-name", "test name"
    TEST_FAILURE = "test-failure", "test failure message"
    RULE_ID = "rule-id", "rule id"
    FINDING_MESSAGE = "finding-message", "finding message"
    LOCATION = "location", "file path"
    COMPONENT = "component", "component"
    PURL = "purl", "package URL"
    RESOURCE = "resource", "resource address"


class EvidenceText(models.Model):
    """One value found inside a piece of evidence, with the field it came from (what "matched in" shows)."""

    Field = EvidenceTextField

    evidence = models.ForeignKey("evidence.Evidence", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=20, choices=Field.choices)
    value = models.TextField()
    vector = models.GeneratedField(
        expression=SearchVector("value", config=CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evidence", "field", "value"], name="search_evidencetext_unique"),
            models.CheckConstraint(
                condition=models.Q(field__in=EvidenceTextField.values),
                name="search_evidencetext_field_valid",
                violation_error_message="Unknown evidence text field.",
            ),
        ]
        indexes = [
            GinIndex(fields=["vector"], name="search_text_fts"),
            # Identifiers the text search parser splits badly (paths, purls, dotted names): trigrams.
            GinIndex(OpClass("value", name="gin_trgm_ops"), name="search_text_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.evidence_id} {self.field}: {self.value[:60]}"


class EvidenceIndexed(models.Model):
    """A piece of evidence whose inside values are in the index (with or without any): the reconcile indexes
    evidence that has none of these, so what the after-commit task missed is not missing for good."""

    evidence = models.OneToOneField("evidence.Evidence", on_delete=models.CASCADE, primary_key=True, related_name="+")
    indexed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.evidence_id} indexed {self.indexed_at:%Y-%m-%d %H:%M}"
