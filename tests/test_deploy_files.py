"""docker-compose.yml and .env.example stay true to the code (no Docker engine here to run them)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "compliance_portal" / "settings.py").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


def _settings_variables() -> set[str]:
    return set(re.findall(r'env_(?:str|bool|int|list|choice|secret)\(\s*"([A-Z_]+)"', SETTINGS))


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    documented = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE, flags=re.M))
    missing = _settings_variables() - documented
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_documents_nothing_the_settings_do_not_read():
    documented = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE, flags=re.M))
    unknown = documented - _settings_variables()
    assert not unknown, f"not read by settings.py: {sorted(unknown)}"


def test_compose_runs_web_worker_beat_sequencer_postgres_and_redis_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "sequencer", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert {"postgres-data", "redis-data", "portal-data"} <= set(compose["volumes"])
    procfile = (ROOT / "Procfile").read_text()
    # The same processes as `make run`.
    for process in ("web", "worker", "beat", "sequencer"):
        assert re.search(rf"^{process}:", procfile, flags=re.M)
    assert "celery" in " ".join(services["worker"]["command"]) and "beat" in services["beat"]["command"]


def test_compose_runs_the_portal_as_an_app_role_and_migrates_as_the_owner_role():
    """Issue 19, gap 5: the processes connect as `portal` (no superuser, owns nothing); only `migrate`
    connects as `portal_owner`, then grants `portal` append-only access to the ledger."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "worker", "worker-heavy", "beat", "sequencer"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://portal:"), name
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith("postgres://portal_owner:")
    assert "db_grant_app_role portal" in " ".join(services["migrate"]["command"])
    assert "POSTGRES_USER" not in services["postgres"]["environment"]  # the superuser is `postgres`, not `portal`
    init = (ROOT / "docs" / "deploy" / "postgres-init" / "10-portal-roles.sh").read_text()
    assert "CREATE ROLE portal_owner LOGIN NOSUPERUSER" in init
    assert "CREATE ROLE portal LOGIN NOSUPERUSER" in init
    mounted = [v for v in services["postgres"]["volumes"] if "10-portal-roles.sh" in v]
    assert mounted and mounted[0].endswith(":/docker-entrypoint-initdb.d/10-portal-roles.sh:ro")
