"""Each PostgreSQL cluster of a test run migrates one test database; the others are copies of it.

`make test` runs four pytest processes (two xdist workers in each lane), and each needs a test database of
its own. Django creates each by running every migration and post_migrate handler (the shipped catalogs, the
rules, the permissions): ~15 s of CPU each on this machine, the same work four times over. Here the first
process of a cluster to get there migrates its database as Django does, then copies it as a template; every
other process (and the next run, until something it depends on changes) gets `CREATE DATABASE … TEMPLATE`,
a file copy of well under a second. An advisory lock on the cluster makes the others wait for the template
instead of migrating beside it.

The template is named after a digest of what a migrate's result depends on: the apps' code and data (their
migrations, the post_migrate handlers and the files they load), the settings and the pinned requirements.
Any change to those gives another name, so a stale template is never used; the old one is dropped when the
new one is made.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a migrated test database depends on: every file under apps/ (code, and the data files migrations
# and post_migrate handlers load, whatever their kind) but pages, static files and bytecode, plus these.
_NOT_INPUTS = {"templates", "static", "__pycache__"}
_INPUT_FILES = ("compliance_portal/settings.py", "requirements.txt", "requirements-dev.txt")
_PREFIX = "portal_test_template_"
_LOCK = "SELECT pg_advisory_lock(hashtext('portal-test-template'))"


def inputs_digest(root: Path = ROOT) -> str:
    """A digest of every file a migrated test database depends on (path and content)."""
    digest = hashlib.sha256()
    files = [p for p in sorted((root / "apps").rglob("*")) if p.is_file()
             and not _NOT_INPUTS & set(p.relative_to(root).parts)]
    files += [root / name for name in _INPUT_FILES if (root / name).is_file()]
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def template_name(digest: str) -> str:
    return _PREFIX + digest


def install() -> None:
    """Make PostgreSQL test databases copies of the cluster's migrated template (see the module's text)."""
    from django.db.backends.postgresql.creation import DatabaseCreation

    if getattr(DatabaseCreation.create_test_db, "_from_template", False):
        return
    migrate = DatabaseCreation.create_test_db

    def create_test_db(self, verbosity=1, autoclobber=False, serialize=True, keepdb=False):
        if keepdb or self.connection.alias != "default":
            return migrate(self, verbosity, autoclobber, serialize, keepdb)
        template = template_name(inputs_digest())
        with _admin_connection(self.connection.settings_dict) as admin:
            admin.execute(_LOCK)  # released when `admin` closes
            if _exists(admin, template):
                return _copy(self, admin, template, verbosity, serialize)
            name = migrate(self, verbosity, autoclobber, serialize, keepdb)
            self.connection.close()  # CREATE DATABASE … TEMPLATE needs the source to have no session
            for (stale,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                          [_PREFIX + "%"]).fetchall():
                admin.execute(f'DROP DATABASE IF EXISTS "{stale}"')
            admin.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
            self.connection.ensure_connection()
            return name

    create_test_db._from_template = True
    DatabaseCreation.create_test_db = create_test_db


def _admin_connection(settings_dict):
    """An autocommit connection to the cluster's maintenance database, as Django's creation uses."""
    import psycopg

    params = {k: v for k, v in {"host": settings_dict["HOST"], "port": settings_dict["PORT"],
                                "user": settings_dict["USER"], "password": settings_dict["PASSWORD"]}.items() if v}
    return psycopg.connect(dbname="postgres", autocommit=True, **params)


def _exists(admin, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _copy(creation, admin, template: str, verbosity: int, serialize: bool) -> str:
    """The test database as a copy of `template`, set up as create_test_db() leaves it."""
    from django.conf import settings

    name = creation._get_test_db_name()
    if verbosity >= 1:
        creation.log(f"Copying test database for alias {creation.connection.alias!r} from {template}...")
    creation.connection.close()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    settings.DATABASES[creation.connection.alias]["NAME"] = name
    creation.connection.settings_dict["NAME"] = name
    if serialize:
        creation.connection._test_serialized_contents = creation.serialize_db_to_string()
    creation.connection.ensure_connection()
    return name
