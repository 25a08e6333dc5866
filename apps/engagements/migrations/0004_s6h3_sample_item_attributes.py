from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagements", "0003_h6_opening_checkpoint"),
    ]

    operations = [
        migrations.AddField(
            model_name="sampleitem",
            name="attributes",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="What the population attached to the item when it was drawn (populations.py): for a "
                "production change, its linked evidence, sign-offs and rule results.",
            ),
        ),
    ]
