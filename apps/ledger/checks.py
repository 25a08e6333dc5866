"""`manage.py check --database default` in the prod profile: the portal's database role cannot switch
the ledger's guard off (issue 19, gap 5)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.database)
def ledger_database_role(app_configs=None, databases=None, **kwargs):
    if settings.PROFILE != "prod" or not databases or "default" not in databases:
        return []
    from apps.ledger.dbroles import db_role_problems

    return [
        checks.Error(
            problem,
            hint="connect as an app role that owns nothing (docs/deploy/README.md, 'Database roles'); "
            "run migrate as the owner role, then manage.py db_grant_app_role APP_ROLE",
            id="ledger.E001",
        )
        for problem in db_role_problems()
    ]
