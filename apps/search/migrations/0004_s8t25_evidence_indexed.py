"""Which evidence is in the index of its inside values (apps.search.models.EvidenceIndexed).

The index is now filled after the parse commits, by a task (apps.search.tasks); the reconcile indexes
evidence without a row here. Every piece of evidence that exists now was indexed in the transaction that
recorded it (or by 0003's backfill), so each gets its row: one INSERT … SELECT over evidence_evidence.
"""

import django.db.models.deletion
from django.db import migrations, models

MARK_EXISTING_SQL = """
INSERT INTO search_evidenceindexed (evidence_id, indexed_at)
SELECT id, now() FROM evidence_evidence
ON CONFLICT DO NOTHING
"""


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0008_s6h4_backfill_deployment_periods"),
        ("search", "0003_s5h3_evidence_text"),
    ]

    operations = [
        migrations.CreateModel(
            name="EvidenceIndexed",
            fields=[
                (
                    "evidence",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="evidence.evidence",
                    ),
                ),
                ("indexed_at", models.DateTimeField()),
            ],
        ),
        migrations.RunSQL(MARK_EXISTING_SQL, reverse_sql=migrations.RunSQL.noop),
    ]
