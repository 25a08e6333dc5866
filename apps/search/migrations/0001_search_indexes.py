"""GIN indexes on the search vectors of the built-in targets (apps.search.targets).

Each expression is exactly what `registry.search_vector(*fields)` compiles to, so the
planner uses the index for `vector @@ query`; tests/search checks that it does. A target
whose fields change needs a new migration here.
"""

from django.db import migrations


def _vector(table: str, fields: tuple[str, ...]) -> str:
    parts = " || ' ' || ".join(f"COALESCE({field}, '')" for field in fields)
    return f"to_tsvector('simple'::regconfig, {parts})"


INDEXES = [
    ("search_evidence_fts", "evidence_evidence", ("title", "kind", "format", "verdict_reason")),
    ("search_artifact_fts", "evidence_artifact", ("uri", "name", "kind", "digest")),
    ("search_system_fts", "inventory_system", ("name", "slug", "description")),
]


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0003_immutable_evidence"),
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({_vector(table, fields)}))",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, fields in INDEXES
    ]
