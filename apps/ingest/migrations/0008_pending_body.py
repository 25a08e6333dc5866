"""Pending bodies: a small raw body committed with its receipt, in the accept"s one statement.

Until now every accept wrote its body to the blob store first, with an fsync of the file and one of
its directory before the 202. A body up to PORTAL_INLINE_BODY_MAX_BYTES now rides the statement that
commits the receipt and its ledger entry, made durable by the commit"s WAL flush, and the parse (or
the receipt sweep) moves it into the blob store (apps.ingest.models.PendingBody).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("ingest", "0007_receipt_source_delivery"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingBody",
            fields=[
                ("sha256", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("body", models.BinaryField()),
                ("created_at", models.DateTimeField()),
            ],
        ),
    ]
