"""Backfill deployment edges written without a period (issue 20, lineage backfill).

Not atomic: apps.evidence.lineage.backfill commits one batch at a time, so a large table is never
locked in one long transaction, and a run that stops half-way is finished by running it again
(`manage.py migrate` or `manage.py backfill_deployment_periods`). Reversing leaves the periods:
they are what the data says, and the edge trigger allows no way back.
"""

from django.db import migrations

from apps.evidence.lineage.backfill import deployment_periods_backfill


def backfill(apps, schema_editor):
    deployment_periods_backfill(batch_size=5000)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("evidence", "0007_s6h4_legacy_deployment_periods"),
        ("ledger", "0003_h7_truncate_escape_superuser_only"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
