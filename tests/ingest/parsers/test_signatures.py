"""apps.ingest.signatures without a database: the DSSE PAE, and forged input never verifies (issue 17)."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.formats.intoto import parse_intoto
from apps.ingest.signatures import TrustedPublicKey, canonical_json, load_public_key, pae, verify

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"runDetails": {"builder": {"id": "https://github.com/actions/runner/x"}}},
    }
).encode()


def _trusted(private) -> TrustedPublicKey:
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key, algorithm, fingerprint = load_public_key(pem)
    return TrustedPublicKey("signer", fingerprint, algorithm, key)


SIGNER = ed25519.Ed25519PrivateKey.generate()
P256 = ec.generate_private_key(ec.SECP256R1())
KEYS = [_trusted(SIGNER), _trusted(P256)]


def _check(envelope: dict):
    [facts] = parse_intoto(json.dumps(envelope).encode()).evidence
    assert facts.summary["verified"] is False  # the parser never says verified
    return verify(facts.verification, keys=KEYS, identities=[], scope="test", trusted_root="")


def test_pae_is_the_dsse_v1_encoding_of_the_spec_example():
    # DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("http://example.com/HelloWorld", b"hello world") == expected


def test_canonical_json_sorts_keys_and_escapes_only_quotes_and_backslashes():
    assert canonical_json({"b": [1, True, None], "a": 'x"\\\n'}) == b'{"a":"x\\"\\\\\n","b":[1,true,null]}'


def test_a_genuine_signature_verifies_and_names_the_key():
    sig = SIGNER.sign(pae(PAYLOAD_TYPE, STATEMENT))
    outcome = _check(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(STATEMENT).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}],
        }
    )
    assert outcome.verified and outcome.signer.startswith("signer (ed25519 SHA256:")


@settings(max_examples=200, deadline=None)
@given(signature=st.binary(min_size=1, max_size=600), keyid=st.text(max_size=80))
def test_no_forged_signature_ever_verifies(signature, keyid):
    outcome = _check(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(STATEMENT).decode(),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
        }
    )
    assert outcome.verified is False and outcome.reason.startswith("unverified:") and outcome.signer == ""


@settings(max_examples=100, deadline=None)
@given(extra=st.binary(min_size=1, max_size=64))
def test_a_signature_over_other_bytes_never_verifies_this_payload(extra):
    other = SIGNER.sign(pae(PAYLOAD_TYPE, STATEMENT + extra))
    outcome = _check(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(STATEMENT).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(other).decode()}],
        }
    )
    assert outcome.verified is False
