"""Signature checks on provenance: DSSE envelopes, in-toto links and Sigstore bundles (no Django).

The parsers only read what an attestation claims and hand over the material a check needs
(`EvidenceFacts.verification`). This module makes the check against what the portal trusts:

- DSSE envelopes (and in-toto link files) against public keys: Ed25519, ECDSA P-256
  (SHA-256, DER or raw r||s signatures) and RSA (PSS or PKCS#1 v1.5, SHA-256). A DSSE
  signature covers PAE(payloadType, payload) exactly as the DSSE v1 protocol defines it:
  "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN being the byte length in ASCII
  decimal. A classic in-toto link's signatures (hex) cover the canonical JSON of its
  "signed" object (securesystemslib's canonical form).
- Sigstore bundles (cosign --new-bundle-format, GitHub artifact attestations) and PyPI
  attestations (converted to bundles by pypi-attestations) with sigstore-python, offline:
  against a trusted root file (Fulcio CAs, Rekor keys, CT logs) and the signing
  certificate's identity (OIDC issuer + SAN), using the inclusion proof carried in the
  bundle. Nothing here opens a network connection.

`Verification.verified` is True only on the line after a signature check returned without
error; every other outcome carries the reason in plain words.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALGORITHMS = ("ed25519", "ecdsa-p256", "rsa")
# OIDC issuer extensions of Fulcio certificates: v2 (DER UTF8String) and the legacy raw one.
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
MAX_SIGNATURES = 20  # more signatures than this on one envelope are not tried


class UnusableKey(ValueError):
    """A public key an admin offered cannot be used (wrong format or algorithm)."""


@dataclass(frozen=True)
class TrustedPublicKey:
    """A public key the portal trusts, loaded once per check batch."""

    name: str
    fingerprint: str  # sha256 hex of the DER SubjectPublicKeyInfo
    algorithm: str
    key: object
    keyid: str = ""  # what signers write as keyid, when an admin gave one

    @property
    def label(self) -> str:
        return f"{self.name} ({self.algorithm} SHA256:{self.fingerprint[:16]})"


@dataclass(frozen=True)
class TrustedIdentity:
    """A Sigstore signing identity the portal trusts: OIDC issuer + certificate SAN.

    An identity ending in "@" matches every ref of it (a GitHub workflow at any tag)."""

    name: str
    issuer: str
    identity: str

    def matches(self, issuer: str, san: str) -> bool:
        if issuer != self.issuer:
            return False
        return san.startswith(self.identity) if self.identity.endswith("@") else san == self.identity


@dataclass
class Verification:
    """The outcome of a signature check: verified or not, who signed, and why."""

    verified: bool
    reason: str
    signer: str = ""
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------- keys


def load_public_key(pem: str | bytes) -> tuple[object, str, str]:
    """(key, algorithm, fingerprint) of a PEM public key; UnusableKey saying what is wrong."""
    data = pem.encode() if isinstance(pem, str) else bytes(pem)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not a PEM public key ({exc})"[:300]) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnusableKey(f"ECDSA keys must be on P-256, this one is on {key.curve.name}")
        algorithm = "ecdsa-p256"
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise UnusableKey(f"RSA keys must have at least 2048 bits, this one has {key.key_size}")
        algorithm = "rsa"
    else:
        raise UnusableKey(f"unsupported key type {type(key).__name__}; use Ed25519, ECDSA P-256 or RSA")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, algorithm, hashlib.sha256(der).hexdigest()


def _verify_with(key: TrustedPublicKey, signature: bytes, message: bytes) -> bool:
    """True when `signature` over `message` verifies with `key`."""
    try:
        if key.algorithm == "ed25519":
            key.key.verify(signature, message)
            return True
        if key.algorithm == "ecdsa-p256":
            try:
                key.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
                return True
            except (InvalidSignature, ValueError):
                if len(signature) != 64:  # raw r||s, as some DSSE signers write it
                    return False
                der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
                key.key.verify(der, message, ec.ECDSA(hashes.SHA256()))
                return True
        if key.algorithm == "rsa":
            try:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
                key.key.verify(signature, message, pss, hashes.SHA256())
                return True
            except InvalidSignature:
                key.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
                return True
    except (InvalidSignature, ValueError):
        return False
    return False


# ---------------------------------------------------------------- messages


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def canonical_json(value) -> bytes:
    """securesystemslib's canonical JSON (what classic in-toto metadata signs)."""

    def encode(item) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if item is None:
            return "null"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, str):
            return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(encode(i) for i in item) + "]"
        if isinstance(item, dict):
            return "{" + ",".join(encode(k) + ":" + encode(item[k]) for k in sorted(item)) + "}"
        raise ValueError(f"canonical JSON cannot hold {type(item).__name__}")

    return encode(value).encode()


def _b64(value: str) -> bytes | None:
    cleaned = value.strip()
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------- public-key checks


def verify_signed_message(
    message: bytes, signatures: list[dict], keys: list[TrustedPublicKey], *, scope: str, encoding: str = "base64"
) -> Verification:
    """Check signatures ({"keyid", "sig"}) over `message` against trusted `keys`.

    A signature's keyid is only a hint (it is not signed): a key whose keyid or fingerprint
    matches is tried first, then the other trusted keys; the signature decides."""
    if not signatures:
        return Verification(False, "unverified: no signatures")
    if not keys:
        return Verification(False, f"unverified: no public key is trusted for {scope}")
    undecodable = 0
    for entry in signatures[:MAX_SIGNATURES]:
        raw = entry.get("sig") if isinstance(entry, dict) else None
        signature = (_b64(raw) if encoding == "base64" else _hex(raw)) if isinstance(raw, str) else None
        if not signature:
            undecodable += 1
            continue
        keyid = str(entry.get("keyid") or "").strip().lower()
        ordered = sorted(keys, key=lambda k: 0 if keyid and keyid in (k.keyid.lower(), k.fingerprint) else 1)
        for key in ordered:
            if _verify_with(key, signature, message):
                return Verification(
                    True,
                    f"verified: signed by trusted key {key.label}",
                    signer=key.label,
                    details={"fingerprint": key.fingerprint, "keyid": keyid},
                )
    count = min(len(signatures), MAX_SIGNATURES)
    if undecodable == count:
        return Verification(False, f"unverified: the signature{'s are' if count > 1 else ' is'} not valid {encoding}")
    return Verification(
        False,
        f"unverified: {'none of the ' + str(count) + ' signatures verifies' if count > 1 else 'the signature verifies'}"
        f" with {'a' if count > 1 else 'no'} key trusted for {scope} ({len(keys)} trusted)",
    )


def verify_dsse(material: dict, keys: list[TrustedPublicKey], *, scope: str) -> Verification:
    """A DSSE envelope: signatures over PAE(payloadType, payload)."""
    message = pae(material["payload_type"], material["payload"])
    return verify_signed_message(message, material.get("signatures") or [], keys, scope=scope)


def verify_link(material: dict, keys: list[TrustedPublicKey], *, scope: str) -> Verification:
    """A classic in-toto link: hex signatures over the canonical JSON of "signed"."""
    try:
        message = canonical_json(material["signed"])
    except ValueError as exc:
        return Verification(False, f"unverified: the link cannot be canonicalised ({exc})")
    return verify_signed_message(message, material.get("signatures") or [], keys, scope=scope, encoding="hex")


# ---------------------------------------------------------------- Sigstore


def _cert_identity(cert) -> tuple[str, str]:
    """(issuer, first SAN) of a Fulcio signing certificate."""

    issuer = ""
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        value = getattr(ext.value, "value", b"")
        if oid == _ISSUER_V2 and value:
            try:
                issuer = value[2:].decode() if value[1] < 0x80 else value[3:].decode()  # DER UTF8String
            except (UnicodeDecodeError, IndexError):
                issuer = ""
            break
        if oid == _ISSUER_V1 and value and not issuer:
            issuer = value.decode(errors="replace")
    san = ""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        values = names.get_values_for_type(x509.UniformResourceIdentifier) + names.get_values_for_type(x509.RFC822Name)
        san = values[0] if values else ""
        if not san:
            for other in names.get_values_for_type(x509.OtherName):
                san = other.value[2:].decode(errors="replace")
                break
    except x509.ExtensionNotFound:
        pass
    return issuer, san


_VERIFIERS: dict[str, object] = {}


def _verifier(trusted_root: str):
    """One sigstore Verifier per trusted root file (loading the root parses its certificates)."""
    from sigstore.models import TrustedRoot  # noqa: PLC0415 - sigstore loads only where a signature is checked
    from sigstore.verify import Verifier  # noqa: PLC0415 - sigstore loads only where a signature is checked

    verifier = _VERIFIERS.get(trusted_root)
    if verifier is None:
        verifier = _VERIFIERS[trusted_root] = Verifier(trusted_root=TrustedRoot.from_file(trusted_root))
    return verifier


def verify_sigstore(
    material: dict, identities: list[TrustedIdentity], *, scope: str, trusted_root: str
) -> Verification:
    """A Sigstore bundle or PyPI attestation, offline, against `trusted_root` and trusted identities."""
    try:
        from sigstore.errors import Error as SigstoreError  # noqa: PLC0415 - sigstore loads only where a signature is checked
        from sigstore.models import Bundle  # noqa: PLC0415 - sigstore loads only where a signature is checked
        from sigstore.verify import policy  # noqa: PLC0415 - sigstore loads only where a signature is checked
    except ImportError:  # pragma: no cover - sigstore is a pinned dependency
        return Verification(False, "unverified: sigstore-python is not installed")
    try:
        if material["type"] == "pypi-attestation":
            from pypi_attestations import Attestation  # noqa: PLC0415 - loads only where a signature is checked

            bundle = Attestation.model_validate(material["attestation"]).to_bundle()
        else:
            bundle = Bundle.from_json(json.dumps(material["bundle"]))
        issuer, san = _cert_identity(bundle.signing_certificate)
    except Exception as exc:  # noqa: BLE001 - any malformed bundle is "unverified", never a crash
        return Verification(False, f"unverified: the bundle cannot be read ({type(exc).__name__}: {exc})"[:500])
    who = f"{san or 'no identity'} (issuer {issuer or 'unknown'})"
    trusted = next((i for i in identities if i.matches(issuer, san)), None)
    if trusted is None:
        if not identities:
            return Verification(
                False,
                f"unverified: signed by {who}; no Sigstore identity is trusted for {scope}",
                details={"identity": san, "issuer": issuer},
            )
        return Verification(
            False,
            f"unverified: signed by {who}, which is not an identity trusted for {scope}",
            details={"identity": san, "issuer": issuer},
        )
    expected = policy.AllOf(
        [policy.Identity(identity=san), policy.AnyOf([policy.OIDCIssuerV2(issuer), policy.OIDCIssuer(issuer)])]
    )
    try:
        payload_type, payload = _verifier(trusted_root).verify_dsse(bundle, expected)
    except (SigstoreError, ValueError) as exc:
        return Verification(
            False,
            f"unverified: Sigstore verification failed offline ({exc})"[:500],
            details={"identity": san, "issuer": issuer},
        )
    except Exception as exc:  # noqa: BLE001 - whatever sigstore-python cannot check offline stays unverified
        name = type(exc).__name__
        return Verification(False, f"unverified: Sigstore could not check it offline ({name}: {exc})"[:500])
    expected_payload = (material.get("payload_type"), material.get("payload"))
    if material.get("payload") is not None and (payload_type, payload) != expected_payload:
        return Verification(False, "unverified: the verified payload is not the statement that was read")
    return Verification(
        True,
        f"verified: Sigstore signature by {who}, trusted as {trusted.name}",
        signer=san,
        details={"identity": san, "issuer": issuer},
    )


def _signed_with_key(bundle) -> bool:
    """A Sigstore bundle whose verification material is a public key (hint), not a certificate."""
    material = bundle.get("verificationMaterial") if isinstance(bundle, dict) else None
    if not isinstance(material, dict):
        return False
    return "publicKey" in material and not ({"certificate", "x509CertificateChain"} & set(material))


def verify(
    material: dict, *, keys: list[TrustedPublicKey], identities: list[TrustedIdentity], scope: str, trusted_root: str
) -> Verification:
    """Dispatch on the container the parser found."""
    kind = material.get("type")
    if kind == "dsse":
        return verify_dsse(material, keys, scope=scope)
    if kind == "link":
        return verify_link(material, keys, scope=scope)
    if kind == "sigstore-bundle" and _signed_with_key(material.get("bundle")):
        # cosign attest --key --new-bundle-format: no certificate, the envelope is signed with the
        # key itself; its signature is checked like any DSSE one. The transparency log entry a
        # bundle may carry is not checked offline here, and the reason says so.
        outcome = verify_dsse(material, keys, scope=scope)
        if outcome.verified:
            outcome.reason += " (key-signed Sigstore bundle; its transparency log entry is not checked)"
        return outcome
    if kind in ("sigstore-bundle", "pypi-attestation"):
        return verify_sigstore(material, identities, scope=scope, trusted_root=trusted_root)
    return Verification(False, f"unverified: no check for {kind!r}")
