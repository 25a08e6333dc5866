# SyncRun moved to apps.connectors, the app that runs syncs, so intake no longer holds connector
# state. Only Django's model state changes here: the table
# ingest_syncrun, its rows, constraints and index stay as they are; connectors 0001_h4_syncrun
# declares the same model on the same table.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ingest', '0004_merge_allowance_trusted_keys'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='SyncRun',
                ),
            ],
            database_operations=[],
        ),
    ]
