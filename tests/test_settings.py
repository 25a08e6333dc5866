"""The production profile: secure by default, and no secret has a default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "PORTAL_PROFILE": "prod",
    "SECRET_KEY": "a-production-like-secret-key-of-sufficient-length-and-variety-Zq8$",
    "ALLOWED_HOSTS": "portal.example.org",
    "DATABASE_URL": "postgres://portal@127.0.0.1:1/portal",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    # A throwaway key made for this test with `manage.py ledger_keygen`; signs nothing real.
    "PORTAL_LEDGER_SIGNING_KEY": "PRIVATE+KEY+attacker.example+a2a1f6cf+AVSM57YbvQr5nXN3zUWG8KFWac0H4T+D6BwYPbtRfgBj",
    # A throwaway Fernet key for webhook secrets at rest, made for this test with
    # Fernet.generate_key(); encrypts nothing real.
    "PORTAL_SECRETS_KEY": "-cLDNMtn7_6ArPVv1x4bfhRnAAHy6rUYejYoa9toR7Q=",
}
# The development profile's defaults: published in this repository, so never a production secret.
DEV_SECRET_KEY = "dev-insecure-secret-key-only-for-make-run-and-make-test-0123456789"
DEV_LEDGER_KEY = "PRIVATE+KEY+compliance-portal.local/ledger+35dfc1dd+Absk6AauddQ9wFcctCtsMnDHfC7amvzB7jBYntFwdsMl"
OLD_DEV_LEDGER_KEY = "PRIVATE+KEY+dev.compliance-portal.local+a873788d+AVZcEvCO3ZClc+GNeKCD1976MNenE59wTEYN+AW+Di5B"
DEV_SECRETS_KEY = "ZGV2LW9ubHktaW5zZWN1cmUtZmVybmV0LWtleS0zMmI="


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A clean environment: nothing of the test profile (or pytest's async override) leaks in.
    leaked = set(PROD_ENV) | {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in leaked and not k.startswith("PORTAL_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False,
    )


def test_check_deploy_is_clean_in_the_production_profile():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required in the prod profile" in result.stderr


def test_production_refuses_to_start_without_a_database_url():
    env = {k: v for k, v in PROD_ENV.items() if k != "DATABASE_URL"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DATABASE_URL is required" in result.stderr


def test_only_the_test_profile_trades_the_password_hash_and_blob_fsync_for_speed():
    code = ("from django.conf import settings; "
            "print(settings.PASSWORD_HASHERS[0]); print(settings.PORTAL_BLOB_FSYNC)")
    prod = _manage("shell", "--no-imports", "-c", code, env=PROD_ENV)
    assert prod.returncode == 0, prod.stderr
    assert prod.stdout.split() == ["django.contrib.auth.hashers.PBKDF2PasswordHasher", "True"]
    test = _manage("shell", "--no-imports", "-c", code, env={"PORTAL_PROFILE": "test"})
    assert test.returncode == 0, test.stderr
    assert test.stdout.split() == ["django.contrib.auth.hashers.MD5PasswordHasher", "False"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("SECRET_KEY", DEV_SECRET_KEY), ("PORTAL_LEDGER_SIGNING_KEY", DEV_LEDGER_KEY),
     ("PORTAL_LEDGER_SIGNING_KEY", OLD_DEV_LEDGER_KEY),
     ("PORTAL_SECRETS_KEY", DEV_SECRETS_KEY)],
)
def test_production_refuses_the_development_secrets_published_in_this_repository(name, value):
    result = _manage("check", env={**PROD_ENV, name: value})
    assert result.returncode != 0
    assert f"{name} is a development value published in this repository" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "a" * 50),
        ("SECRET_KEY", "password" * 7),
        # 32 zero bytes: a valid Fernet key with no secret in it.
        ("PORTAL_SECRETS_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        # A Fernet key made of a readable phrase, second in a rotation list.
        ("PORTAL_SECRETS_KEY", PROD_ENV["PORTAL_SECRETS_KEY"] + ",dGhyb3dhd2F5LWZlcm5ldC1rZXktZm9yLXRlc3RzLTA="),
        # An all-zero Ed25519 seed.
        ("PORTAL_LEDGER_SIGNING_KEY",
         "PRIVATE+KEY+portal.example.org+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_production_refuses_low_entropy_keys(name, value):
    result = _manage("check", env={**PROD_ENV, name: value})
    assert result.returncode != 0
    assert f"{name} looks guessable" in result.stderr


def test_development_profile_still_runs_on_its_published_defaults():
    result = _manage("check", env={"PORTAL_PROFILE": "dev"})
    assert result.returncode == 0, result.stderr


def test_production_requires_totp_of_admins_risk_owners_and_compliance_officers():
    code = "from django.conf import settings; print(' '.join(sorted(settings.PORTAL_MFA_REQUIRED_ROLES)))"
    prod = _manage("shell", "--no-imports", "-c", code, env=PROD_ENV)
    assert prod.returncode == 0, prod.stderr
    assert prod.stdout.split() == ["admin", "compliance_officer", "risk_owner"]


def test_the_dev_profile_of_make_run_shows_no_debug_pages_unless_asked():
    """Issue 21: the demo answers errors with the portal's own 404/500 pages, not Django's debug page."""
    code = "from django.conf import settings; print(settings.DEBUG)"
    dev = _manage("shell", "-c", code, env={"PORTAL_PROFILE": "dev"})
    assert dev.returncode == 0, dev.stderr
    assert dev.stdout.split()[-1] == "False"
    asked = _manage("shell", "-c", code, env={"PORTAL_PROFILE": "dev", "DEBUG": "true"})
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split()[-1] == "True"


def test_prepared_statements_are_on_by_default_and_can_be_turned_off_for_a_pooler():
    # psycopg prepares nothing while prepare_threshold is None (Django's default), not even the
    # statements the code asks to prepare; the switch is for a pooler that cannot carry them.
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    on = _manage("shell", "--no-imports", "-c", code, env=PROD_ENV)
    assert on.returncode == 0, on.stderr
    assert int(on.stdout.split()[-1]) >= 2**31 - 1  # never reached: only statements asked for by name
    off = _manage("shell", "--no-imports", "-c", code, env={**PROD_ENV, "PORTAL_DB_PREPARED_STATEMENTS": "false"})
    assert off.returncode == 0, off.stderr
    assert off.stdout.split()[-1] == "None"
