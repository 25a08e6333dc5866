"""GIN indexes on the search vectors of controls and exceptions (apps.search.targets).

Same construction as 0001: each expression is exactly what `registry.search_vector(*fields)`
compiles to, so the planner uses the index for `vector @@ query`.
"""

from django.db import migrations


def vector_sql(fields: tuple[str, ...]) -> str:
    parts = " || ' ' || ".join(f"COALESCE({field}, '')" for field in fields)
    return f"to_tsvector('simple'::regconfig, {parts})"


INDEXES = [
    ("search_control_fts", "policy_control", ("control_id", "label", "title", "description", "group_title")),
    (
        "search_exception_fts",
        "exceptions_exceptionrequest",
        ("justification", "compensating_controls", "review_reason", "revoke_reason"),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_search_indexes"),
        ("policy", "0001_initial"),
        ("exceptions", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({vector_sql(fields)}))",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, fields in INDEXES
    ]
