# SyncRun moved here from apps.ingest (issue 22) and keeps its table, ingest_syncrun: this
# migration only tells Django's model state; the table was created by ingest 0002_pull_connectors.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('ingest', '0005_h4_syncrun_to_connectors'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SyncRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trigger', models.CharField(choices=[('schedule', 'Schedule'), ('manual', 'Sync now'), ('command', 'sync_source command'), ('webhook', 'Webhook')], max_length=10)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='running', max_length=10)),
                        ('started_at', models.DateTimeField()),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('items', models.PositiveIntegerField(default=0, help_text='Documents fetched and accepted as receipts.')),
                        ('new_receipts', models.PositiveIntegerField(default=0, help_text='Of those, how many were new (not replays).')),
                        ('error', models.TextField(blank=True)),
                        ('cursor', models.JSONField(blank=True, default=dict, help_text='The cursor this run ended with.')),
                        ('source', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sync_runs', to='ingest.source')),
                    ],
                    options={
                        'db_table': 'ingest_syncrun',
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['source', '-started_at'], name='syncrun_source_started')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'running')), fields=('source',), name='syncrun_one_running_per_source', violation_error_message='This source is already being synced.'), models.CheckConstraint(condition=models.Q(('status__in', ['running', 'succeeded', 'failed'])), name='syncrun_status_valid', violation_error_message='Unknown sync status.')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
