"""The pack's ZIP: the report, each raw evidence file once, a manifest, its DSSE signature, a README.

The manifest is signed as a DSSE envelope (Ed25519) over an in-toto Statement v1 whose
subjects are every file of the ZIP with its sha256, the manifest included. The verifier is
NOT in the ZIP: a pack cannot vouch for the program that checks it. The README tells the
reader to take the verifier and the keys from the portal (apps/packs/verifier.py, /verify/).
Raw files are streamed from the blob store into the ZIP, never held whole in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from apps.ledger.checkpoint import Signer
from apps.packs.offline.core import ENVELOPE, MANIFEST, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, pae

APP_DIR = Path(__file__).resolve().parent
# How to verify the pack: (path in the ZIP, our source file). Only instructions, no code to run.
VERIFIER_FILES = [
    ("README.md", APP_DIR / "offline" / "README.md"),
]


@dataclass(frozen=True)
class PackKey:
    """The key that signs pack manifests, and its public verifier key (Go note format)."""

    private: Ed25519PrivateKey
    vkey: str


def pack_signing_key() -> PackKey:
    """PORTAL_PACK_SIGNING_KEY, or the ledger's key when none is set (one key to publish)."""
    skey = settings.PORTAL_PACK_SIGNING_KEY or settings.PORTAL_LEDGER_SIGNING_KEY
    signer = Signer.from_skey(skey)  # validates name, key id and encoding
    seed = base64.b64decode(skey.split("+", 4)[4])[1:]
    return PackKey(private=Ed25519PrivateKey.from_private_bytes(seed), vkey=signer.verifier_key())


def trusted_pack_keys() -> list[str]:
    """Keys `manage.py verify_pack` trusts: the pack key and the ledger's current and earlier keys."""
    from apps.ledger.services import trusted_verifier_keys

    keys = [pack_signing_key().vkey]
    return keys + [k for k in trusted_verifier_keys() if k not in keys]


def dsse_sign(payload: bytes, key: PackKey) -> dict:
    """A DSSE envelope of an in-toto payload, signed over PAE(type, payload)."""
    signature = key.private.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key.vkey, "sig": base64.b64encode(signature).decode("ascii")}],
    }


class ZipBuilder:
    """Writes a pack ZIP file by file, remembering each file's sha256 and size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True)
        self.files: dict[str, tuple[str, int]] = {}

    def add_bytes(self, name: str, data: bytes) -> None:
        self.zip.writestr(_info(name), data)
        self.files[name] = (hashlib.sha256(data).hexdigest(), len(data))

    def add_stream(self, name: str, source) -> None:
        """Copy a binary file object into the ZIP in 1 MiB blocks, hashing as it goes."""
        h = hashlib.sha256()
        size = 0
        with self.zip.open(_info(name), "w", force_zip64=True) as out:
            while block := source.read(1 << 20):
                h.update(block)
                size += len(block)
                out.write(block)
        self.files[name] = (h.hexdigest(), size)

    def close(self) -> None:
        self.zip.close()


def _info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp: the same content gives the same ZIP entries.
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def add_verifier(builder: ZipBuilder) -> None:
    for name, source in VERIFIER_FILES:
        builder.add_bytes(name, source.read_bytes())


def sign_and_close(builder: ZipBuilder, manifest: dict, key: PackKey, *, predicate: dict) -> None:
    """Write manifest.json, then the signed statement over every file, and close the ZIP."""
    manifest = {**manifest, "files": [
        {"name": name, "sha256": digest, "size": size} for name, (digest, size) in sorted(builder.files.items())
    ]}
    builder.add_bytes(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str).encode("utf-8"))
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": digest}} for name, (digest, _) in sorted(builder.files.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {**predicate, "signing_key": key.vkey},
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    envelope = dsse_sign(payload, key)
    builder.zip.writestr(_info(ENVELOPE), json.dumps(envelope, indent=1).encode("utf-8"))
    builder.close()
