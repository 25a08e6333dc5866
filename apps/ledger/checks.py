"""`manage.py check --database default` in the prod profile: the portal's database role cannot switch
the ledger's guard off (a trigger stops mistakes, not the table's owner or a superuser).

A warning, not an error: `migrate` runs the database checks too, as the migration role, which owns the
schema by design. The app role's check is `check --database default --fail-level WARNING`."""

from django.conf import settings
from django.core import checks

from apps.ledger.dbroles import db_role_problems


@checks.register(checks.Tags.database)
def ledger_database_role(app_configs=None, databases=None, **kwargs):
    if settings.PROFILE != "prod" or not databases or "default" not in databases:
        return []

    return [
        checks.Warning(
            problem,
            hint="expected for the migration role; the portal itself must connect as an app role that owns "
            "nothing (docs/deploy/README.md, 'Database roles'): manage.py db_grant_app_role APP_ROLE",
            id="ledger.W001",
        )
        for problem in db_role_problems()
    ]
