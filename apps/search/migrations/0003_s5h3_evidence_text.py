"""The index of the words inside evidence (apps.search.models.EvidenceText), filled for existing evidence.

pg_trgm is enabled here (nothing enabled it before) for the trigram GIN index on values. The backfill
runs apps.search.content.evidence_content_index over all evidence in batches of 5,000 evidence ids;
on a large table run it off-peak (it takes the time of one pass over evidence_evidencerecord).

When retention disposes of an evidence's detail rows (apps.retention, DELETE on evidence_evidencerecord),
a trigger drops that evidence's indexed words too: what is disposed of is no longer found by search.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.operations
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

FORGET_SQL = """
CREATE FUNCTION search_evidencetext_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_evidencetext WHERE evidence_id IN (SELECT DISTINCT evidence_id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER search_evidencetext_forget AFTER DELETE ON evidence_evidencerecord
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION search_evidencetext_forget();
"""
FORGET_REVERSE_SQL = """
DROP TRIGGER IF EXISTS search_evidencetext_forget ON evidence_evidencerecord;
DROP FUNCTION IF EXISTS search_evidencetext_forget();
"""


def backfill(apps, schema_editor):
    from apps.search.content import evidence_content_index  # noqa: PLC0415 - loaded only when this migration runs

    evidence_content_index(evidence_ids=None)


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0006_h15_artifact_deleted_at"),
        ("search", "0002_control_exception_indexes"),
    ]

    operations = [
        django.contrib.postgres.operations.TrigramExtension(),
        migrations.CreateModel(
            name="EvidenceText",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "field",
                    models.CharField(
                        choices=[
                            ("test-name", "test name"),
                            ("test-failure", "test failure message"),
                            ("rule-id", "rule id"),
                            ("finding-message", "finding message"),
                            ("location", "file path"),
                            ("component", "component"),
                            ("purl", "package URL"),
                            ("resource", "resource address"),
                        ],
                        max_length=20,
                    ),
                ),
                ("value", models.TextField()),
                (
                    "vector",
                    models.GeneratedField(
                        db_persist=True,
                        expression=django.contrib.postgres.search.SearchVector("value", config="simple"),
                        output_field=django.contrib.postgres.search.SearchVectorField(),
                    ),
                ),
                (
                    "evidence",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="evidence.evidence"
                    ),
                ),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(fields=["vector"], name="search_text_fts"),
                    django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.indexes.OpClass("value", name="gin_trgm_ops"), name="search_text_trgm"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("evidence", "field", "value"), name="search_evidencetext_unique"),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "field__in",
                                [
                                    "test-name",
                                    "test-failure",
                                    "rule-id",
                                    "finding-message",
                                    "location",
                                    "component",
                                    "purl",
                                    "resource",
                                ],
                            )
                        ),
                        name="search_evidencetext_field_valid",
                        violation_error_message="Unknown evidence text field.",
                    ),
                ],
            },
        ),
        migrations.RunSQL(sql=FORGET_SQL, reverse_sql=FORGET_REVERSE_SQL),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
