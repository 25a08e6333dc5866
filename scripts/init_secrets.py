#!/usr/bin/env python3
"""Write a fresh `.env` for docker compose: new random secrets, never committed (.gitignore, .dockerignore).

    python3 scripts/init_secrets.py --host portal.example.org        # writes ./.env (mode 600)
    python3 scripts/init_secrets.py --host build.invalid --stdout    # print instead (the image build uses this)

Runs with the standard library alone, so it works on a fresh host before any virtualenv or image
exists. The ledger's Ed25519 key comes from `cryptography` when it is installed (the image, the
virtualenv) and from the `openssl` command otherwise. It refuses to overwrite an existing file
(the ledger key signs checkpoints: replacing it needs a rotation, see docs/operations.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def ed25519_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key as (32-byte seed, 32-byte public key)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        return _ed25519_keypair_openssl()
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seed, public


def _ed25519_keypair_openssl() -> tuple[bytes, bytes]:
    # PKCS#8 DER of an Ed25519 key ends with the 32-byte seed, its SubjectPublicKeyInfo with the public key.
    private_der = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-outform", "DER"], capture_output=True, check=True
    ).stdout
    public_der = subprocess.run(
        ["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
        input=private_der, capture_output=True, check=True,
    ).stdout
    if len(private_der) != 48 or len(public_der) != 44:
        raise SystemExit("openssl returned an unexpected Ed25519 key encoding")
    return private_der[-32:], public_der[-32:]


def ledger_signing_key(name: str) -> str:
    """A signed-note signer key, PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)> (what ledger_keygen makes)."""
    seed, public = ed25519_keypair()
    algorithm = b"\x01"  # Ed25519 in the signed-note format
    key_id = hashlib.sha256(name.encode() + b"\n" + algorithm + public).digest()[:4]
    return f"PRIVATE+KEY+{name}+{key_id.hex()}+{base64.b64encode(algorithm + seed).decode()}"


def env_text(host: str) -> str:
    """The .env file: every variable the prod profile requires that docker-compose.yml does not set."""
    return "\n".join(
        [
            f"# Made by scripts/init_secrets.py for {host}. Secret: keep it out of git and out of images.",
            "# Everything else has a default or is set by docker-compose.yml; .env.example lists every variable.",
            f"ALLOWED_HOSTS={host}",
            f"CSRF_TRUSTED_ORIGINS=https://{host}",
            f"PORTAL_BASE_URL=https://{host}",
            f"SECRET_KEY={secrets.token_urlsafe(60)}",
            # Three PostgreSQL roles (docs/deploy/README.md, "Database roles"): the portal's app role, the
            # schema owner that migrates, and the cluster's superuser (for the container and the DBA only).
            f"POSTGRES_PASSWORD={secrets.token_urlsafe(32)}",
            f"POSTGRES_OWNER_PASSWORD={secrets.token_urlsafe(32)}",
            f"POSTGRES_SUPERUSER_PASSWORD={secrets.token_urlsafe(32)}",
            f"PORTAL_LEDGER_SIGNING_KEY={ledger_signing_key(host)}",
            # A Fernet key: 32 random bytes, URL-safe base64.
            f"PORTAL_SECRETS_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost", help="the portal's public host name (default: localhost)")
    parser.add_argument("--output", default=str(ROOT / ".env"), help="file to write (default: .env)")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing a file")
    args = parser.parse_args(argv)
    if not _HOST.match(args.host):
        parser.error(f"--host {args.host!r}: a host name, e.g. portal.example.org")
    text = env_text(args.host)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    output = Path(args.output)
    try:
        # O_EXCL: never overwrite keys already in use; 0o600: only the owner reads it.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{output} exists; keep it (its keys are in use) or move it away first", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {output} (fresh SECRET_KEY, PostgreSQL role passwords, PORTAL_LEDGER_SIGNING_KEY, "
          "PORTAL_SECRETS_KEY)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
