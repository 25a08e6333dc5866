"""Issue 17, hole 2: provenance counts as signed only when a signature verifies against a trusted key.

The envelopes here are signed in the test with throwaway keys (`cryptography`), exactly as a CI
job's signer would: DSSE v1, signature over PAE(payloadType, payload).
"""

from __future__ import annotations

import base64
import io
import json
import socket

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt, TrustedKey
from apps.ingest.services import receipt_parse, receipt_reparse, source_create
from apps.ingest.signatures import canonical_json
from apps.ingest.trust import TrustedKeyError, trusted_key_add, trusted_key_revoke
from apps.ledger.models import PendingEntry
from apps.policy.models import ControlResult, ResultStatus
from apps.policy.services import policy_evaluate
from tests.ingest.conftest import DATA, upload
from tests.policy.conftest import make_system

pytestmark = pytest.mark.django_db

IMAGE = "oci://ghcr.io/acme/marketing-site@sha256:" + "ab" * 32
MADE_UP_BUILDER = "https://github.com/actions/runner/made-up-builder"
ALLOWED_BUILDER = "https://github.com/actions/runner/github-hosted"
PROVENANCE = DATA / "provenance"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def statement(builder: str = MADE_UP_BUILDER) -> bytes:
    """A SLSA v1 provenance statement about IMAGE naming `builder`."""
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "ghcr.io/acme/marketing-site", "digest": {"sha256": "ab" * 32}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"},
                "runDetails": {"builder": {"id": builder}, "metadata": {"invocationId": "run-1"}},
            },
        }
    ).encode()


def envelope(payload: bytes, signatures: list[dict]) -> bytes:
    return json.dumps(
        {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(), "signatures": signatures}
    ).encode()


@pytest.fixture
def marketing_ci(db):
    system = make_system("marketing-site")
    return source_create(actor="system:test", kind="generic-ci", name="ci marketing-site", system=system)


def _send(client, creds, body: bytes) -> Evidence:
    response = upload(client, creds.token, body, name="provenance.intoto.json", subject=IMAGE)
    assert response.status_code == 202, response.json()
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert receipt.state == Receipt.State.PARSED, receipt.error
    return Evidence.objects.get(receipt=receipt)


def _status(rule_key: str) -> str:
    return ControlResult.objects.filter(rule__key=rule_key, artifact__uri=IMAGE).values_list("status", flat=True)[0]


def test_a_forged_signature_naming_a_made_up_builder_earns_no_green(client, marketing_ci):
    forged = envelope(statement(), [{"keyid": "", "sig": base64.b64encode(b"not a signature").decode()}])
    evidence = _send(client, marketing_ci, forged)
    policy_evaluate()
    assert _status("provenance-signed") != ResultStatus.PASS
    assert _status("provenance-allowed-builder") != ResultStatus.PASS
    assert evidence.summary["verified"] is False
    assert evidence.summary["reason"].startswith("unverified")


# ---------------------------------------------------------------- signing with throwaway keys


def _pem(private) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _sign(private, message: bytes) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(hashes.SHA256()))
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(
            message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256()
        )
    return private.sign(message)


def signed_envelope(private, payload: bytes | None = None, keyid: str = "ci-signer") -> bytes:
    """A DSSE v1 envelope signed over PAE(payloadType, payload), as the spec defines it."""
    payload = payload or statement()
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    return envelope(payload, [{"keyid": keyid, "sig": base64.b64encode(_sign(private, pae)).decode()}])


KEYS = {
    "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


@pytest.mark.parametrize("algorithm", sorted(KEYS))
def test_provenance_signed_with_a_trusted_key_is_verified_and_its_builder_counts(client, marketing_ci, algorithm):
    private = KEYS[algorithm]()
    key = trusted_key_add(
        actor="system:test", name="release signer", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    assert key.algorithm == algorithm
    evidence = _send(client, marketing_ci, signed_envelope(private, statement(ALLOWED_BUILDER)))
    assert evidence.summary["verified"] is True
    assert evidence.summary["signer"].startswith("release signer")
    assert evidence.summary["builder_id"] == ALLOWED_BUILDER
    assert evidence.verdict_reason.startswith("verified: signed by trusted key release signer")
    policy_evaluate()
    assert _status("provenance-signed") == ResultStatus.PASS
    assert _status("provenance-allowed-builder") == ResultStatus.PASS


def test_a_key_trusted_for_the_source_verifies_its_uploads(client, marketing_ci):
    private = ed25519.Ed25519PrivateKey.generate()
    trusted_key_add(actor="system:test", name="ci key", source=marketing_ci.source, public_key_pem=_pem(private))
    assert _send(client, marketing_ci, signed_envelope(private)).summary["verified"] is True


def test_a_signature_by_an_untrusted_key_stays_unverified_with_the_reason(client, marketing_ci):
    trusted_key_add(
        actor="system:test",
        name="release signer",
        system=marketing_ci.source.system,
        public_key_pem=_pem(ed25519.Ed25519PrivateKey.generate()),
    )
    stranger = ed25519.Ed25519PrivateKey.generate()
    evidence = _send(client, marketing_ci, signed_envelope(stranger, statement(ALLOWED_BUILDER)))
    summary = evidence.summary
    assert (summary["verified"], summary["signer"], summary["builder_id"]) == (False, "", "")
    assert summary["claimed_builder_id"] == ALLOWED_BUILDER  # the claim stays visible, as a claim
    assert summary["reason"] == (
        "unverified: the signature verifies with no key trusted for system marketing-site or source "
        "ci marketing-site (1 trusted)"
    )
    assert "system marketing-site" in summary["reason"] and evidence.verdict_reason == summary["reason"]
    policy_evaluate()
    assert _status("provenance-signed") == ResultStatus.FAIL
    assert _status("provenance-allowed-builder") == ResultStatus.FAIL


def test_without_any_trusted_key_the_reason_says_so(client, marketing_ci):
    evidence = _send(client, marketing_ci, signed_envelope(ed25519.Ed25519PrivateKey.generate()))
    assert evidence.summary["reason"] == (
        "unverified: no public key is trusted for system marketing-site or source ci marketing-site"
    )


def test_an_envelope_without_signatures_is_unverified(client, marketing_ci):
    trusted_key_add(
        actor="system:test",
        name="release signer",
        system=marketing_ci.source.system,
        public_key_pem=_pem(ed25519.Ed25519PrivateKey.generate()),
    )
    evidence = _send(client, marketing_ci, envelope(statement(ALLOWED_BUILDER), []))
    assert evidence.summary["verified"] is False
    assert evidence.summary["reason"] == "unverified: the dsse has no signatures"
    policy_evaluate()
    assert _status("provenance-signed") == ResultStatus.FAIL


def test_a_revoked_key_no_longer_verifies(client, marketing_ci):
    private = ed25519.Ed25519PrivateKey.generate()
    key = trusted_key_add(
        actor="system:test", name="old signer", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    assert _send(client, marketing_ci, signed_envelope(private)).summary["verified"] is True
    trusted_key_revoke(actor="system:test", key_id=key.pk, reason="laptop stolen")
    later = _send(client, marketing_ci, signed_envelope(private, statement("https://github.com/actions/runner/x")))
    assert later.summary["verified"] is False
    assert later.summary["reason"].startswith("unverified: no public key is trusted")
    with pytest.raises(TrustedKeyError, match="already revoked"):
        trusted_key_revoke(actor="system:test", key_id=key.pk)


def test_a_changed_payload_breaks_the_signature(client, marketing_ci):
    private = ed25519.Ed25519PrivateKey.generate()
    trusted_key_add(actor="system:test", name="signer", system=marketing_ci.source.system, public_key_pem=_pem(private))
    genuine = json.loads(signed_envelope(private, statement("https://gitlab.com/evil/runner")))
    genuine["payload"] = base64.b64encode(statement(ALLOWED_BUILDER)).decode()  # signature kept, payload swapped
    evidence = _send(client, marketing_ci, json.dumps(genuine).encode())
    assert evidence.summary["verified"] is False and evidence.summary["builder_id"] == ""


def test_adding_and_revoking_keys_are_ledger_entries_and_admin_only(marketing_ci, engineer):
    private = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(PermissionDenied):
        trusted_key_add(actor=engineer, name="x", system=marketing_ci.source.system, public_key_pem=_pem(private))
    key = trusted_key_add(
        actor="system:test", name="signer", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    trusted_key_revoke(actor="system:test", key_id=key.pk, reason="rotated")
    entries = PendingEntry.objects.filter(object_id=str(key.pk), action__startswith="trusted_key.")
    assert sorted(entries.values_list("action", flat=True)) == ["trusted_key.added", "trusted_key.revoked"]
    with pytest.raises(TrustedKeyError, match="not a PEM public key"):
        trusted_key_add(actor="system:test", name="bad", system=marketing_ci.source.system, public_key_pem="nope")
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(TrustedKeyError, match="P-256"):
        trusted_key_add(actor="system:test", name="bad", system=marketing_ci.source.system, public_key_pem=_pem(p384))


def test_trust_key_command_adds_lists_and_revokes(marketing_ci, tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "signer.pub"
    pem.write_text(_pem(private))
    out = io.StringIO()
    call_command(
        "trust_key",
        "--add",
        "--name",
        "release signer",
        "--system",
        "marketing-site",
        "--public-key",
        str(pem),
        stdout=out,
    )
    added = json.loads(out.getvalue())
    assert (added["algorithm"], added["system"], added["revoked_at"]) == ("ecdsa-p256", "marketing-site", None)
    out = io.StringIO()
    call_command(
        "trust_key",
        "--add",
        "--name",
        "release workflow",
        "--source",
        "ci marketing-site",
        "--issuer",
        GITHUB_ISSUER,
        "--identity",
        "https://github.com/acme/site/.github/workflows/r.yml@",
        stdout=out,
    )
    assert json.loads(out.getvalue())["kind"] == "sigstore-identity"
    out = io.StringIO()
    call_command("trust_key", "--list", "--system", "marketing-site", stdout=out)
    assert [json.loads(line)["name"] for line in out.getvalue().splitlines()] == ["release workflow", "release signer"]
    out = io.StringIO()
    call_command("trust_key", "--revoke", str(added["id"]), "--reason", "rotated", stdout=out)
    assert json.loads(out.getvalue())["revoke_reason"] == "rotated"
    out = io.StringIO()
    call_command("trust_key", "--list", stdout=out)
    assert [json.loads(line)["name"] for line in out.getvalue().splitlines()] == ["release workflow"]
    with pytest.raises(CommandError, match="no system"):
        call_command("trust_key", "--add", "--name", "x", "--system", "nope", "--public-key", str(pem))


# ---------------------------------------------------------------- in-toto links


def test_a_classic_in_toto_link_is_provenance_and_its_signature_is_checked(client, marketing_ci):
    private = ed25519.Ed25519PrivateKey.generate()
    trusted_key_add(
        actor="system:test", name="step key", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    signed = {
        "_type": "link",
        "name": "build",
        "command": ["python", "-m", "build"],
        "materials": {"setup.py": {"sha256": "11" * 32}},
        "products": {"dist/app-1.0.tar.gz": {"sha256": "22" * 32}},
        "byproducts": {},
        "environment": {},
    }
    sig = private.sign(canonical_json(signed)).hex()
    body = json.dumps({"signed": signed, "signatures": [{"keyid": "abc", "sig": sig}]}).encode()
    evidence = _send(client, marketing_ci, body)
    assert (evidence.format, evidence.kind) == ("intoto", "provenance")
    assert evidence.summary["step_name"] == "build" and evidence.summary["verified"] is True
    signed["command"] = ["curl", "evil.sh"]
    forged = json.dumps({"signed": signed, "signatures": [{"keyid": "abc", "sig": sig}]}).encode()
    assert _send(client, marketing_ci, forged).summary["verified"] is False


# ---------------------------------------------------------------- Sigstore, offline


GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PYPI_WORKFLOW = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@"
PACKAGE = "pkg:pypi/pypi-attestations@0.0.19"


def _send_file(client, creds, name: str, subject: str = PACKAGE) -> list[Evidence]:
    response = upload(client, creds.token, (PROVENANCE / name).read_bytes(), name=name, subject=subject)
    assert response.status_code == 202, response.json()
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert receipt.state == Receipt.State.PARSED, receipt.error
    return list(Evidence.objects.filter(receipt=receipt).order_by("ordinal", "id"))


@pytest.fixture
def offline(monkeypatch):
    """Sigstore verification must not touch the network: any socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access during verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_a_pypi_slsa_attestation_verifies_offline_against_the_trusted_workflow(client, marketing_ci, offline):
    trusted_key_add(
        actor="system:test",
        name="pypi-attestations release",
        system=marketing_ci.source.system,
        issuer=GITHUB_ISSUER,
        identity=PYPI_WORKFLOW,
    )
    [evidence] = _send_file(client, marketing_ci, "pypi_attestations-0.0.19.tar.gz.slsa.attestation")
    assert (evidence.format, evidence.kind) == ("intoto", "provenance")
    assert evidence.summary["container"] == "pypi-attestation"
    assert evidence.summary["verified"] is True, evidence.summary["reason"]
    assert evidence.summary["signer"] == PYPI_WORKFLOW + "refs/tags/v0.0.19"
    assert (
        evidence.summary["builder_id"] == evidence.summary["claimed_builder_id"] == PYPI_WORKFLOW + "refs/tags/v0.0.19"
    )


def test_a_sigstore_bundle_from_another_workflow_is_unverified_naming_the_signer(client, marketing_ci, offline):
    trusted_key_add(
        actor="system:test",
        name="our release",
        system=marketing_ci.source.system,
        issuer=GITHUB_ISSUER,
        identity="https://github.com/acme/marketing-site/.github/workflows/r.yml@",
    )
    [evidence] = _send_file(client, marketing_ci, "pypi_attestation_models-0.0.4a2.tar.gz.sigstore")
    assert evidence.kind == "provenance" and evidence.summary["verified"] is False
    assert (
        "trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2"
        in (evidence.summary["reason"])
    )
    assert "not an identity trusted for system marketing-site" in evidence.summary["reason"]


def test_a_pypi_provenance_file_gives_one_verified_item_per_attestation(client, marketing_ci, offline):
    trusted_key_add(
        actor="system:test",
        name="pypi-attestations release",
        system=marketing_ci.source.system,
        issuer=GITHUB_ISSUER,
        identity=PYPI_WORKFLOW,
    )
    items = _send_file(client, marketing_ci, "pypi_attestations-0.0.19.tar.gz.provenance")
    assert items and all(e.kind == "provenance" and e.summary["verified"] is True for e in items)


def test_a_tampered_pypi_attestation_is_unverified(client, marketing_ci, offline, tmp_path):
    trusted_key_add(
        actor="system:test",
        name="pypi-attestations release",
        system=marketing_ci.source.system,
        issuer=GITHUB_ISSUER,
        identity=PYPI_WORKFLOW,
    )
    doc = json.loads((PROVENANCE / "pypi_attestations-0.0.19.tar.gz.slsa.attestation").read_bytes())
    claimed = json.loads(base64.b64decode(doc["envelope"]["statement"]))
    claimed["subject"][0]["digest"]["sha256"] = "00" * 32
    doc["envelope"]["statement"] = base64.b64encode(json.dumps(claimed).encode()).decode()
    response = upload(client, marketing_ci.token, json.dumps(doc).encode(), name="x.attestation", subject=PACKAGE)
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    evidence = Evidence.objects.get(receipt=receipt)
    assert evidence.summary["verified"] is False
    assert evidence.summary["reason"].startswith("unverified: Sigstore")


def test_a_bundle_signed_on_another_sigstore_instance_is_unverified_offline(client, marketing_ci, offline):
    trusted_key_add(
        actor="system:test",
        name="william",
        system=marketing_ci.source.system,
        issuer="https://github.com/login/oauth",
        identity="william@yossarian.net",
    )
    [evidence] = _send_file(client, marketing_ci, "rfc8785-0.1.2-py3-none-any.whl.sigstore", subject=IMAGE)
    assert evidence.summary["verified"] is False
    assert evidence.summary["reason"].startswith("unverified: Sigstore verification failed offline")


# ---------------------------------------------------------------- what people see


def test_unverified_provenance_is_shown_as_such_with_the_reason(client, marketing_ci, compliance_officer):
    forged = envelope(statement(), [{"keyid": "", "sig": base64.b64encode(b"not a signature").decode()}])
    evidence = _send(client, marketing_ci, forged)
    client.force_login(compliance_officer)
    body = client.get(f"/api/v1/evidence/{evidence.pk}").json()
    assert body["summary"]["verified"] is False and body["summary"]["reason"].startswith("unverified:")
    assert body["summary"]["builder_id"] == "" and body["summary"]["claimed_builder_id"] == MADE_UP_BUILDER
    page = client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert "Unverified provenance." in page
    assert "no public key is trusted for system marketing-site or source ci marketing-site" in page


def test_admins_add_and_revoke_trusted_keys_on_the_admin_page(client, marketing_ci, admin_user):
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    client.force_login(admin_user)
    private = ed25519.Ed25519PrivateKey.generate()
    response = client.post(
        "/admin/ingest/trustedkey/add/",
        {"name": "release signer", "system": marketing_ci.source.system.pk, "public_key_pem": _pem(private)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key = TrustedKey.objects.get(name="release signer")
    assert key.algorithm == "ed25519" and key.created_by == admin_user
    assert PendingEntry.objects.filter(action="trusted_key.added", object_id=str(key.pk)).exists()
    assert client.get("/admin/ingest/trustedkey/").status_code == 200
    client.post("/admin/ingest/trustedkey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin_user
    assert PendingEntry.objects.filter(action="trusted_key.revoked", object_id=str(key.pk)).exists()


def test_a_key_signed_sigstore_bundle_is_checked_against_trusted_keys(client, marketing_ci):
    """cosign attest --key cosign.key --new-bundle-format: a v0.3 bundle with a public-key hint."""
    private = ec.generate_private_key(ec.SECP256R1())
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "cosign-key"}, "tlogEntries": []},
        "dsseEnvelope": json.loads(signed_envelope(private, statement(ALLOWED_BUILDER))),
    }
    untrusted = _send(client, marketing_ci, json.dumps(bundle).encode())
    assert untrusted.kind == "provenance" and untrusted.summary["container"] == "sigstore-bundle"
    assert untrusted.summary["reason"].startswith("unverified: no public key is trusted")
    trusted_key_add(
        actor="system:test", name="cosign key", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    bundle["verificationMaterial"]["tlogEntries"] = [{"logIndex": "1"}]  # another body: not a replay
    verified = _send(client, marketing_ci, json.dumps(bundle).encode())
    assert verified.summary["verified"] is True
    assert "transparency log entry is not checked" in verified.summary["reason"]


def test_after_revoking_a_key_a_reparse_takes_the_green_away(client, marketing_ci):
    private = ed25519.Ed25519PrivateKey.generate()
    key = trusted_key_add(
        actor="system:test", name="leaked", system=marketing_ci.source.system, public_key_pem=_pem(private)
    )
    evidence = _send(client, marketing_ci, signed_envelope(private, statement(ALLOWED_BUILDER)))
    policy_evaluate()
    assert _status("provenance-signed") == ResultStatus.PASS
    trusted_key_revoke(actor="system:test", key_id=key.pk, reason="leaked")
    receipt_reparse(actor="system:test", receipt_id=evidence.receipt_id)
    receipt_parse(receipt_id=evidence.receipt_id)
    newer = Evidence.objects.filter(receipt_id=evidence.receipt_id).order_by("-generation").first()
    assert newer.generation > evidence.generation and newer.summary["verified"] is False
    policy_evaluate()
    assert _status("provenance-signed") == ResultStatus.FAIL
    assert _status("provenance-allowed-builder") == ResultStatus.FAIL
