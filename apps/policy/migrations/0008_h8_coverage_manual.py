from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("policy", "0007_h11_truthful_coverage"),
    ]

    operations = [
        migrations.AddField(
            model_name="coveragesnapshot",
            name="manual",
            field=models.PositiveIntegerField(
                default=0, help_text="Controls that documents or attestations assess (with automated: both)."
            ),
        ),
    ]
