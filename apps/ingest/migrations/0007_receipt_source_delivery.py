"""Receipts indexed by (source, delivery key) instead of by source alone.

A webhook delivery's first statement looks up the receipt its source already stored under the
delivery id (apps.ingest.auth._WEBHOOK_SOURCE_SQL). For a source newer than the table's statistics,
PostgreSQL chose the index on the source alone and read every receipt of that source per delivery,
until autovacuum analyzed the table again. The composite index answers that lookup in one probe and
serves lookups by source alone, so it replaces the foreign key's index. Built and dropped
concurrently: the receipts table is the largest one a deployment has, and accepts keep flowing.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# The foreign key's index as Django named it in 0001 (schema_editor._create_index_name).
SOURCE_INDEX = "ingest_receipt_source_id_3d5f19ac"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ingest", "0006_receipt_unparsed_subject"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="receipt",
            index=models.Index(fields=["source", "delivery_key"], name="receipt_source_delivery"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="receipt",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="receipts",
                        to="ingest.source",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {SOURCE_INDEX}",
                    reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {SOURCE_INDEX} ON ingest_receipt (source_id)",
                ),
            ],
        ),
    ]
