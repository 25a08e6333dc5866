"""trust_key --add | --list | --revoke: the keys and Sigstore identities whose provenance signatures count.

    manage.py trust_key --add --name "release signer" --system payments-api --public-key signer.pub [--keyid ID]
    manage.py trust_key --add --name "release workflow" --system payments-api \\
        --issuer https://token.actions.githubusercontent.com \\
        --identity https://github.com/acme/payments-api/.github/workflows/release.yml@
    manage.py trust_key --add --name "ci signer" --source "ci payments" --public-key signer.pub
    manage.py trust_key --list [--system SLUG] [--all]
    manage.py trust_key --revoke ID [--reason TEXT]

Each add and revoke is a ledger entry (actor "system:trust_key"); output is JSON.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.ingest.models import Source, TrustedKey
from apps.ingest.trust import TrustedKeyError, trusted_key_add, trusted_key_list, trusted_key_revoke
from apps.inventory.models import System

ACTOR = "system:trust_key"


def key_json(key: TrustedKey) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "kind": key.kind,
        "system": key.system.slug if key.system_id else None,
        "source": key.source.name if key.source_id else None,
        "algorithm": key.algorithm,
        "fingerprint": key.fingerprint,
        "keyid": key.keyid,
        "issuer": key.issuer,
        "identity": key.identity,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "revoke_reason": key.revoke_reason,
    }


class Command(BaseCommand):
    help = "Add, list or revoke the public keys and Sigstore identities trusted to sign provenance."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--add", action="store_true", help="trust a new key or identity")
        action.add_argument("--list", action="store_true", help="list trusted keys (JSON lines)")
        action.add_argument("--revoke", type=int, metavar="ID", help="stop trusting key ID")
        parser.add_argument("--name", default="", help="who or what signs with it")
        parser.add_argument("--system", default="", help="slug of the system it is trusted for")
        parser.add_argument("--source", default="", help="name (or id) of the source it is trusted for")
        parser.add_argument("--public-key", default="", help="PEM public key file (Ed25519, ECDSA P-256, RSA)")
        parser.add_argument("--keyid", default="", help="the keyid the signer writes in DSSE envelopes")
        parser.add_argument("--issuer", default="", help="Sigstore: OIDC issuer of the signing certificate")
        parser.add_argument("--identity", default="", help="Sigstore: certificate subject; ending in @ = any ref")
        parser.add_argument("--reason", default="", help="why a key is revoked")
        parser.add_argument("--all", action="store_true", help="--list: include revoked keys")

    def _system(self, slug: str) -> System | None:
        if not slug:
            return None
        system = System.objects.filter(slug=slug).first()
        if system is None:
            raise CommandError(f"there is no system {slug!r}")
        return system

    def _source(self, ref: str) -> Source | None:
        if not ref:
            return None
        source = Source.objects.filter(name=ref).first()
        if source is None and ref.isdigit():
            source = Source.objects.filter(pk=int(ref)).first()
        if source is None:
            raise CommandError(f"there is no source {ref!r}")
        return source

    def handle(self, *args, **o):
        try:
            if o["list"]:
                for key in trusted_key_list(system=self._system(o["system"]), include_revoked=o["all"]):
                    self.stdout.write(json.dumps(key_json(key)))
                return
            if o["revoke"] is not None:
                key = trusted_key_revoke(actor=ACTOR, key_id=o["revoke"], reason=o["reason"])
                self.stdout.write(json.dumps(key_json(key)))
                return
            pem = ""
            if o["public_key"]:
                try:
                    pem = Path(o["public_key"]).read_text()
                except (OSError, UnicodeDecodeError) as exc:
                    raise CommandError(f"cannot read {o['public_key']}: {exc}") from None
            key = trusted_key_add(
                actor=ACTOR,
                name=o["name"],
                system=self._system(o["system"]),
                source=self._source(o["source"]),
                public_key_pem=pem,
                keyid=o["keyid"],
                issuer=o["issuer"],
                identity=o["identity"],
            )
        except TrustedKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(key_json(key)))
