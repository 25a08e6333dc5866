from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="PendingEntry",
            fields=[
                ("canonical", models.BinaryField(help_text="RFC 8785 canonical JSON: the exact bytes that are hashed.")),
                ("recorded_at", models.DateTimeField()),
                ("actor_type", models.CharField(max_length=20)),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("actor_label", models.CharField(blank=True, max_length=200)),
                ("action", models.CharField(max_length=80)),
                ("object_type", models.CharField(blank=True, max_length=80)),
                ("object_id", models.CharField(blank=True, max_length=200)),
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ],
            options={"db_table": "ledger_pending"},
        ),
        migrations.CreateModel(
            name="LedgerEntry",
            fields=[
                ("canonical", models.BinaryField(help_text="RFC 8785 canonical JSON: the exact bytes that are hashed.")),
                ("recorded_at", models.DateTimeField()),
                ("actor_type", models.CharField(max_length=20)),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("actor_label", models.CharField(blank=True, max_length=200)),
                ("action", models.CharField(max_length=80)),
                ("object_type", models.CharField(blank=True, max_length=80)),
                ("object_id", models.CharField(blank=True, max_length=200)),
                ("index", models.BigIntegerField(primary_key=True, serialize=False)),
                ("sequenced_at", models.DateTimeField()),
            ],
            options={
                "db_table": "ledger_entry",
                "ordering": ["-index"],
                "verbose_name_plural": "ledger entries",
                "indexes": [
                    models.Index(fields=["object_type", "object_id", "index"], name="ledger_entry_object"),
                    models.Index(fields=["action", "index"], name="ledger_entry_action"),
                    models.Index(fields=["actor_type", "actor_id", "index"], name="ledger_entry_actor"),
                    models.Index(fields=["recorded_at"], name="ledger_entry_time"),
                ],
            },
        ),
        migrations.CreateModel(
            name="LedgerNode",
            fields=[
                ("pk", models.CompositePrimaryKey("level", "idx", blank=True, editable=False, primary_key=True, serialize=False)),
                ("level", models.SmallIntegerField()),
                ("idx", models.BigIntegerField()),
                ("hash", models.BinaryField()),
            ],
            options={"db_table": "ledger_node"},
        ),
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("size", models.BigIntegerField()),
                ("root", models.BinaryField()),
                ("note", models.TextField(help_text="The signed note, verbatim.")),
                ("key_name", models.CharField(max_length=200)),
                ("key_id", models.CharField(help_text="Hex key id of the signing key.", max_length=8)),
                ("verifier_key", models.CharField(max_length=300)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "db_table": "ledger_checkpoint",
                "ordering": ["-size"],
                "constraints": [models.UniqueConstraint(fields=("size",), name="ledger_checkpoint_one_per_size")],
            },
        ),
    ]
