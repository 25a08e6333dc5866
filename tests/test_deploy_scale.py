"""docs/deploy/docker-compose.scale.yml stays true to the code (no Docker engine here to run it)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCALE = ROOT / "docs" / "deploy" / "docker-compose.scale.yml"
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
PORTAL_SERVICES = ("migrate", "web", "worker", "worker-heavy", "beat", "sequencer")


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (`!reset`, `!override`), which PyYAML does not know."""


ComposeLoader.add_constructor("!reset", lambda loader, node: {"!reset": loader.construct_sequence(node)
                                                              if isinstance(node, yaml.SequenceNode) else None})
ComposeLoader.add_constructor("!override", lambda loader, node: {"!override": loader.construct_object(node)})


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=ComposeLoader)  # noqa: S506 - SafeLoader subclass


def test_scale_file_parses_and_only_overrides_or_adds_services():
    base = _load(ROOT / "docker-compose.yml")["services"]
    scale = _load(SCALE)["services"]
    for name, service in scale.items():
        if name not in base:
            assert "image" in service, f"{name}: a new service needs an image"
        for dependency in service.get("depends_on", {}):
            assert dependency in base or dependency in scale, f"{name} depends on unknown {dependency}"


def test_scaled_processes_and_the_singletons():
    scale = _load(SCALE)["services"]
    assert scale["web"]["deploy"]["replicas"] > 1
    assert scale["worker"]["deploy"]["replicas"] > 1
    assert scale["worker-heavy"]["deploy"]["replicas"] > 1
    # Exactly one beat (a second would double every periodic task) and one sequencer.
    assert scale["beat"]["deploy"]["replicas"] == 1
    assert scale["sequencer"]["deploy"]["replicas"] == 1
    # Web replicas publish no host port (they would clash); the proxy does.
    assert scale["web"]["ports"] == {"!reset": []}
    assert scale["proxy"]["ports"]


def test_every_portal_process_gets_the_replica_and_s3_settings():
    scale = _load(SCALE)["services"]
    for name in PORTAL_SERVICES:
        env = scale[name]["environment"]
        assert env["PORTAL_EVIDENCE_STORAGE"] == "s3", name
        assert "@postgres-replica:5432/" in env["PORTAL_DATABASE_REPLICA_URLS"], name
        assert env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000", name
    assert "postgres-replica" in scale and "minio" in scale


def test_every_variable_the_scale_file_uses_is_in_env_example():
    text = SCALE.read_text()
    scale = _load(SCALE)["services"]
    documented = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE, flags=re.M))
    # Settings the portal processes receive: documented as settings (or, for boto3's own
    # credentials, named in .env.example's S3 notes).
    for name in PORTAL_SERVICES:
        for key in scale[name]["environment"]:
            assert key in documented or re.search(rf"\b{key}\b", ENV_EXAMPLE), f"{name}: {key} not in .env.example"
    # Compose interpolations (${VAR…}; $$ is a literal dollar for the container's shell).
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", text))
    assert {"POSTGRES_PASSWORD", "POSTGRES_REPLICATION_PASSWORD", "MINIO_ROOT_USER"} <= interpolated
    for var in interpolated:
        assert var in documented or re.search(rf"^# {var}=", ENV_EXAMPLE, flags=re.M), f"{var} not in .env.example"


def test_the_replica_is_a_streaming_copy_and_the_bucket_has_object_lock():
    scale = _load(SCALE)
    replica = " ".join(scale["services"]["postgres-replica"]["command"])
    assert "pg_basebackup -h postgres" in replica and " -R " in replica  # -R: primary_conninfo + standby.signal
    assert "wal_level=replica" in scale["services"]["postgres"]["command"]
    assert "CREATE ROLE replicator WITH REPLICATION" in scale["configs"]["postgres-replication-init"]["content"]
    init = " ".join(scale["services"]["minio-init"]["entrypoint"])
    assert "mc mb --ignore-existing --with-lock portal/portal-evidence" in init
    assert scale["x-scaled-env"]["AWS_STORAGE_BUCKET_NAME"] == "portal-evidence"
    # migrate runs the system checks, object lock included: it waits for the bucket.
    assert scale["services"]["migrate"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
