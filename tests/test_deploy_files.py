"""docker-compose.yml and .env.example stay true to the code (no Docker engine here to run them)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
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


# ---------------------------------------------------------------- issue 23: the documented compose flow
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Services that run once and exit; every other one runs for good and needs a health check.
ONE_SHOT = {"migrate"}


def _compose_schema() -> dict:
    # The Compose specification's JSON schema as check-jsonschema vendors it (a dev requirement).
    from importlib.resources import files

    return json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())


def _init_secrets(tmp_path, *args: str) -> dict[str, str]:
    out = tmp_path / ".env"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "init_secrets.py"), "--output", str(out), *args],
                   check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:?msg} and ${NAME:-default} against the .env values ($$ is a literal $)."""
    def one(match):
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":-":
            return rest
        raise AssertionError(f"{name} is not set: {rest}")
    return re.sub(r"\$\{([A-Z_]+)(?:(:[?-])([^}]*))?\}", one, value.replace("$$", "\0")).replace("\0", "$")


def test_compose_file_is_valid_against_the_compose_specification():
    import jsonschema

    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert not errors, errors
    # The schema is no rubber stamp: a misspelt key fails it.
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "web": {**COMPOSE["services"]["web"], "helthcheck": {}}}}
    assert list(validator.iter_errors(broken))


def test_every_long_running_service_has_a_health_check():
    services = COMPOSE["services"]
    missing = [name for name in services if name not in ONE_SHOT and "healthcheck" not in services[name]]
    assert not missing, missing
    # Beat and the sequencer answer no request: their checks read the heartbeat their loops write.
    assert services["beat"]["healthcheck"]["test"][1:4] == ["python", "-m", "compliance_portal.heartbeat"]
    assert services["sequencer"]["healthcheck"]["test"][1:4] == ["python", "-m", "compliance_portal.heartbeat"]
    # The heavy worker's ping names its own node.
    assert "heavy@%h" in services["worker-heavy"]["command"]
    assert "heavy@$$HOSTNAME" in services["worker-heavy"]["healthcheck"]["test"][1]


def test_the_generated_env_and_compose_provide_every_variable_the_prod_profile_requires(tmp_path):
    dotenv = _init_secrets(tmp_path, "--host", "portal.example.org")
    portal = COMPOSE["x-portal"]
    assert portal["env_file"] == ".env"
    compose_env = {k: _interpolate(str(v), dotenv) for k, v in portal["environment"].items()}
    # Exactly what a container sees (the image's ENV, .env, compose's environment), nothing from here.
    image_env = dict(re.findall(r"(\w+)=(\S+)", DOCKERFILE.split("\nENV ", 1)[1].split("\nRUN", 1)[0]))
    env = {"PATH": os.environ["PATH"], **image_env, **dotenv, **compose_env}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert env["PORTAL_PROFILE"] == "prod"
    # Postgres creates the app role with the password the portal's DATABASE_URL carries, and the
    # owner role with the one migrate uses; the superuser's is neither.
    postgres = {k: _interpolate(v, dotenv) for k, v in COMPOSE["services"]["postgres"]["environment"].items()}
    assert f"portal:{postgres['PORTAL_APP_PASSWORD']}@postgres:" in env["DATABASE_URL"]
    migrate = _interpolate(COMPOSE["services"]["migrate"]["environment"]["DATABASE_URL"], dotenv)
    assert migrate.startswith(f"postgres://portal_owner:{postgres['PORTAL_OWNER_PASSWORD']}@postgres:")
    assert postgres["POSTGRES_PASSWORD"] not in (postgres["PORTAL_APP_PASSWORD"], postgres["PORTAL_OWNER_PASSWORD"])


def test_init_secrets_makes_fresh_keys_the_ledger_accepts_and_never_overwrites(tmp_path):
    from apps.ledger.checkpoint import Signer
    from compliance_portal.env import secret_weakness

    first = _init_secrets(tmp_path, "--host", "portal.example.org")
    assert Signer.from_skey(first["PORTAL_LEDGER_SIGNING_KEY"]).name == "portal.example.org"
    for name in ("SECRET_KEY", "PORTAL_LEDGER_SIGNING_KEY", "PORTAL_SECRETS_KEY"):
        assert secret_weakness(name, first[name]) is None, name
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # only its owner reads it
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "init_secrets.py"),
                            "--output", str(tmp_path / ".env")], capture_output=True, text=True, check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    second = subprocess.run([sys.executable, str(ROOT / "scripts" / "init_secrets.py"), "--stdout"],
                            capture_output=True, text=True, check=True).stdout
    assert first["SECRET_KEY"] not in second and first["PORTAL_SECRETS_KEY"] not in second


def test_init_secrets_makes_a_valid_ledger_key_with_openssl_when_cryptography_is_missing(tmp_path):
    from apps.ledger.checkpoint import Signer

    # -S -I: no site-packages, so `cryptography` cannot be imported and the openssl path runs.
    result = subprocess.run(["/usr/bin/python3", "-S", "-I", str(ROOT / "scripts" / "init_secrets.py"), "--stdout",
                             "--host", "portal.example.org"], capture_output=True, text=True, check=True)
    key = re.search(r"^PORTAL_LEDGER_SIGNING_KEY=(\S+)$", result.stdout, flags=re.M).group(1)
    assert Signer.from_skey(key).name == "portal.example.org"


def _dockerignore_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker reads it: from the context root, `**` spans folders, `*` does not."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] in "*?":
            out, i = out + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def _dockerignored(path: str) -> bool:
    """The last matching pattern wins, '!' re-includes, and a match on a folder covers what is in it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        regex = _dockerignore_regex(pattern.lstrip("!"))
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


@pytest.mark.parametrize("path", [".env", ".env.prod", "var/test/pg/data/PG_VERSION", "var/ledger-checkpoints.jsonl",
                                  "secrets/ledger_key", "deploy/tls/server.key", "deploy/tls/server.pem",
                                  "apps/x/id_ed25519", ".venv/bin/python", ".git/config"])
def test_dockerignore_keeps_secrets_keys_and_local_state_out_of_the_build_context(path):
    assert _dockerignored(path), path


@pytest.mark.parametrize("path", ["manage.py", "apps/ledger/services.py", "scripts/init_secrets.py", ".env.example",
                                  "static/js/charts.js", "requirements.txt"])
def test_dockerignore_keeps_what_the_image_needs(path):
    assert not _dockerignored(path), path


def test_the_image_runs_as_a_non_root_user_that_owns_its_volume_paths():
    # As Docker parses it: comment lines go (also inside a continued instruction), then lines join.
    text = "\n".join(line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#"))
    instructions = [line.split(None, 1) for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    users = [arg.strip() for word, arg in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    # USER comes before the command the container starts (nothing after it switches back).
    last_user = max(i for i, (word, _) in enumerate(instructions) if word == "USER")
    assert max(i for i, (word, _) in enumerate(instructions) if word in ("CMD", "ENTRYPOINT")) > last_user
    user = users[-1]
    owned = set()
    for word, arg in instructions:
        if word == "RUN":
            for match in re.finditer(rf"install -d -o {user} -g {user}(?: -m \d+)? ((?:/\S+\s*)+)", arg):
                owned |= set(match.group(1).split())
    # Every volume the portal's services mount, and every path the settings put in it, is owned by that user.
    portal = COMPOSE["x-portal"]
    for volume in portal["volumes"]:
        assert volume.split(":")[1] in owned, volume
    for name in ("PORTAL_MEDIA_ROOT", "PORTAL_LEDGER_WITNESS_FILE"):
        target = portal["environment"][name]
        assert any(target == d or target.startswith(d + "/") for d in owned - {"/var/lib/portal"}), name
    beat_schedule = COMPOSE["services"]["beat"]["command"][-1]
    assert str(Path(beat_schedule).parent) in owned
    assert "useradd --system --create-home --uid 10001 " + user in DOCKERFILE


def test_the_image_build_makes_throwaway_secrets_and_keeps_none():
    assert "scripts/init_secrets.py --stdout --host build.invalid > /tmp/build.env" in DOCKERFILE
    assert "rm -f /tmp/build.env" in DOCKERFILE
    assert "SECRET_KEY=" not in DOCKERFILE and "PRIVATE+KEY" not in DOCKERFILE


# ---------------------------------------------------------------- issue 23: runtime vs development requirements
def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if "==" in line and not line.startswith(("#", "-")):
            package, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", package).lower()] = version.split()[0]
    return pins


# What the image must not carry (issue 23): the test, benchmark and peer-server world.
DEV_ONLY = ["mlflow", "pandas", "scipy", "scikit-learn", "pyarrow", "locust", "gevent", "moto", "playwright",
            "schemathesis", "pytest", "hypothesis", "ruff", "pip-tools", "factory-boy", "check-jsonschema", "honcho"]


def test_the_runtime_lock_carries_no_test_or_benchmark_tools():
    runtime = _pins("requirements.txt")
    assert not set(DEV_ONLY) & set(runtime), sorted(set(DEV_ONLY) & set(runtime))
    assert {"django", "celery", "gunicorn", "weasyprint", "psycopg"} <= set(runtime)


def test_the_dev_lock_holds_every_runtime_pin_at_the_same_version():
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version} == {}
    assert set(DEV_ONLY) <= set(dev)


def test_the_image_installs_the_runtime_lock_only_and_make_venv_installs_both():
    installs = re.findall(r"pip install [^\n]*", DOCKERFILE)
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -r requirements-dev.txt" in makefile
    assert "--output-file requirements.txt requirements.in" in makefile
    assert "--output-file requirements-dev.txt requirements-dev.in" in makefile


def test_every_package_the_application_imports_is_in_the_runtime_lock():
    import ast
    import importlib.metadata

    # Modules named in settings as strings (apps, middleware, backends, formatters) and the servers.
    imported = {"whitenoise", "django_filters", "django_htmx", "template_partials", "axes", "pythonjsonlogger",
                "drf_spectacular_sidecar", "gunicorn", "psycopg", "django_otp", "csp", "mozilla_django_oidc"}
    for folder in ("apps", "compliance_portal"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    distributions = importlib.metadata.packages_distributions()
    runtime = set(_pins("requirements.txt"))
    missing = {}
    for module in sorted(imported - set(sys.stdlib_module_names) - {"apps", "compliance_portal"}):
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [])}
        if names and not names & runtime:
            missing[module] = sorted(names)
    assert not missing, f"imported at run time but not in requirements.txt: {missing}"
