"""Provenance parse rate with signature checks, next to the same batch unverified (issue 17).

Run ``python bench/provenance_bench.py`` (or through ``make bench``). Rows as in parsers_bench:
``value`` is the rate with verification, ``baseline`` the rate of the same bytes parsed without
it, in the same run, and ``ratio = value / baseline`` (target >= 0.5):

- ``provenance_1k_dsse_<algorithm>``: statements/s for a JSON Lines batch of 1,000 DSSE
  envelopes (SLSA v1 provenance, one signature each), parsed by parse_intoto() and each
  signature checked by apps.ingest.signatures.verify() against 5 trusted keys of which one
  is the signer (its keyid matches), for Ed25519, ECDSA P-256 and RSA-2048 signers.
- ``provenance_100_sigstore_offline``: bundles/s for 100 copies of a real Sigstore bundle
  (pypi-attestation-models 0.0.4a2, GitHub Actions, public-good instance) verified offline
  with sigstore-python (certificate chain, SCT, Rekor inclusion proof, DSSE signature).

No database: this is the work receipt_parse adds per statement (the trusted keys are read
once per receipt, one query).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402

from apps.formats.intoto import parse_intoto  # noqa: E402
from apps.ingest.signatures import (  # noqa: E402
    TrustedIdentity,
    TrustedPublicKey,
    load_public_key,
    pae,
    verify,
)

STATEMENTS = 1_000
BUNDLES = 100
REPEATS = 3
PAYLOAD_TYPE = "application/vnd.in-toto+json"
TRUSTED_ROOT = str(ROOT / "apps" / "ingest" / "sigstore" / "trusted_root.json")
BUNDLE = (
    ROOT / "tests" / "ingest" / "parsers" / "data" / "provenance" / "pypi_attestation_models-0.0.4a2.tar.gz.sigstore"
)
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@"

SIGNERS = {
    "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "ecdsa_p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _sign(private, message: bytes) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(hashes.SHA256()))
    if isinstance(private, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        return private.sign(message, pss, hashes.SHA256())
    return private.sign(message)


def _trusted(private, name: str, keyid: str = "") -> TrustedPublicKey:
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key, algorithm, fingerprint = load_public_key(pem)
    return TrustedPublicKey(name, fingerprint, algorithm, key, keyid=keyid)


def make_batch(private, count: int = STATEMENTS) -> bytes:
    """JSON Lines of `count` signed DSSE envelopes, each a SLSA v1 statement about its own image."""
    lines = []
    for i in range(count):
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": f"ghcr.io/acme/app-{i}", "digest": {"sha256": f"{i:064x}"}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                    "resolvedDependencies": [
                        {"uri": "git+https://github.com/acme/app@refs/heads/main", "digest": {"gitCommit": f"{i:040x}"}}
                    ],
                },
                "runDetails": {
                    "builder": {"id": "https://github.com/actions/runner/github-hosted"},
                    "metadata": {"invocationId": f"run-{i}", "finishedOn": "2026-01-01T00:00:00Z"},
                },
            },
        }
        payload = json.dumps(statement).encode()
        signature = _sign(private, pae(PAYLOAD_TYPE, payload))
        envelope = {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "ci-signer", "sig": base64.b64encode(signature).decode()}],
        }
        lines.append(json.dumps(envelope))
    return ("\n".join(lines) + "\n").encode()


def _best(func) -> float:
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        func()
        timings.append(time.perf_counter() - start)
    return min(timings)


def _row(name: str, items: int, unit: str, seconds: float, baseline_seconds: float) -> dict:
    value, baseline = items / seconds, items / baseline_seconds
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "baseline_unit": f"{unit} (same batch, unverified)",
        "ratio": round(value / baseline, 3),
    }


def _parse_and_verify(body: bytes, keys, identities) -> int:
    verified = 0
    for facts in parse_intoto(body).evidence:
        outcome = verify(facts.verification, keys=keys, identities=identities, scope="bench", trusted_root=TRUSTED_ROOT)
        verified += outcome.verified
    return verified


def run() -> list[dict]:
    rows = []
    for name, make in SIGNERS.items():
        signer = make()
        keys = [_trusted(make(), f"other {i}") for i in range(4)] + [_trusted(signer, "ci signer", "ci-signer")]
        body = make_batch(signer)
        assert _parse_and_verify(body, keys, []) == STATEMENTS, "a genuine signature did not verify"
        verified = _best(lambda body=body, keys=keys: _parse_and_verify(body, keys, []))
        unverified = _best(lambda body=body: parse_intoto(body))
        rows.append(_row(f"provenance_1k_dsse_{name}", STATEMENTS, "statements/s", verified, unverified))
    bundle = json.dumps(json.loads(BUNDLE.read_bytes()))
    body = ("\n".join([bundle] * BUNDLES) + "\n").encode()
    identities = [TrustedIdentity("release workflow", GITHUB, WORKFLOW)]
    assert _parse_and_verify(body, [], identities) == BUNDLES, "the Sigstore bundle did not verify offline"
    verified = _best(lambda: _parse_and_verify(body, [], identities))
    unverified = _best(lambda: parse_intoto(body))
    rows.append(_row("provenance_100_sigstore_offline", BUNDLES, "bundles/s", verified, unverified))
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
