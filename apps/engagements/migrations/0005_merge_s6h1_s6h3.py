"""Joins two branches written side by side: flag threads and sample item attributes touch different tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engagements", "0004_s6h1_flag_threads"),
        ("engagements", "0004_s6h3_sample_item_attributes"),
    ]

    operations = []
