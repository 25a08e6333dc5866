"""Indexes that make the pages' cache versions two index probes (issue 10, page performance).

The overview and system pages cache what they compute from rollups and results, keyed by a
version that changes whenever those rows change: the newest `computed_at` of the rollups and the
newest `evaluated_at` of a system's results. These indexes answer those max() queries without a
scan. Plain SQL (not Meta.indexes): the ORM never filters on these columns itself.
"""

from django.db import migrations

INDEXES = [
    ("policy_coveragesnapshot_computed", "policy_coveragesnapshot", "computed_at"),
    ("policy_systemmetric_computed", "policy_systemmetricsnapshot", "computed_at"),
    ("policy_result_system_evaluated", "policy_controlresult", "system_id, evaluated_at"),
]


class Migration(migrations.Migration):
    dependencies = [("policy", "0002_append_only_result_history")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, columns in INDEXES
    ]
