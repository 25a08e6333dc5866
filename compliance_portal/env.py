"""Read the environment once, loudly.

Every setting that differs per deployment comes through one of these functions, so a
typo in a value stops start-up with a message instead of silently taking a default.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from collections import Counter

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()

# Secrets published in this repository (the dev profile's defaults, the Dockerfile's former build-only
# values): anyone can read them, so production refuses them whatever their length or entropy.
PUBLISHED_SECRETS = frozenset(
    {
        "dev-insecure-secret-key-only-for-make-run-and-make-test-0123456789",
        "PRIVATE+KEY+dev.compliance-portal.local+a873788d+AVZcEvCO3ZClc+GNeKCD1976MNenE59wTEYN+AW+Di5B",
        "PRIVATE+KEY+compliance-portal.local/ledger+35dfc1dd+Absk6AauddQ9wFcctCtsMnDHfC7amvzB7jBYntFwdsMl",
        "ZGV2LW9ubHktaW5zZWN1cmUtZmVybmV0LWtleS0zMmI=",
        "build-only-not-a-secret-build-only-not-a-secret-0123456789",
        "PRIVATE+KEY+build.invalid+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    }
)
# A production key must carry at least this much entropy, estimated from its own symbols (a
# random 32-byte key scores ~150, token_urlsafe(50) ~350, 50 x "a" scores 0).
MIN_SECRET_BITS = 128
# ...and at least this many different symbols (a repeated word has few; a random 32-byte key ~30).
MIN_SECRET_SYMBOLS = 16


def env_str(name: str, *, default: str | object = _MISSING) -> str:
    """A string; required when no default is given."""
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, *, default: bool) -> bool:
    """'true' or 'false', nothing else."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value not in ("true", "false"):
        raise ImproperlyConfigured(f"{name}={value!r}: use 'true' or 'false'")
    return value == "true"


def env_int(name: str, *, default: int | object = _MISSING, minimum: int | None = None) -> int:
    """A base-10 integer, optionally bounded below."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set")
        return default  # type: ignore[return-value]
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value}: must be at least {minimum}")
    return value


def env_list(name: str, *, default: list[str] | object = _MISSING) -> list[str]:
    """A comma-separated list; blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set")
        return list(default)  # type: ignore[call-overload]
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], *, default: str) -> str:
    """One of a fixed set of words."""
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _key_material(key: str) -> bytes:
    """The bytes that make a key secret: a signed-note key's seed, a Fernet key's 32 bytes, else the text."""
    if key.startswith("PRIVATE+KEY+"):
        # PRIVATE+KEY+<name>+<key id>+<base64>: the base64 may itself hold "+", so split from the left.
        encoded = key.split("+", 4)[-1]
        try:
            return base64.b64decode(encoded, validate=True)[1:]  # drop the algorithm byte
        except (binascii.Error, ValueError):
            return key.encode()
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return key.encode()
    return raw if len(raw) == 32 and len(key) == 44 else key.encode()


def secret_entropy_bits(key: str) -> float:
    """Estimated entropy of a key: its length times the Shannon entropy of its own symbols.

    Not a proof of randomness; it catches repeated characters, words and readable phrases used
    where a generated key belongs (a generated key's bytes are not text).
    """
    material = _key_material(key)
    if not material:
        return 0.0
    counts = Counter(material)
    per_symbol = -sum(n / len(material) * math.log2(n / len(material)) for n in counts.values())
    if material.isascii() and all(32 <= b < 127 for b in material) and len(material) <= 32:
        # 32 key bytes that are all printable text: a phrase, not a generated key.
        per_symbol = min(per_symbol, 3.0)
    return per_symbol * len(material)


def secret_weakness(name: str, value: str) -> str | None:
    """Why production must refuse this secret, or None. Each key of a comma-separated list counts."""
    if value in PUBLISHED_SECRETS:
        return f"{name} is a development value published in this repository; generate a fresh one"
    for key in (part.strip() for part in value.split(",")):
        if key in PUBLISHED_SECRETS:
            return f"{name} is a development value published in this repository; generate a fresh one"
        if secret_entropy_bits(key) < MIN_SECRET_BITS or len(set(_key_material(key))) < MIN_SECRET_SYMBOLS:
            return (
                f"{name} looks guessable (under {MIN_SECRET_BITS} bits of entropy or {MIN_SECRET_SYMBOLS} different "
                "symbols); generate a random one "
                "with scripts/init_secrets.py"
            )
    return None


def env_secret(
    name: str, *, dev_default: str | None, profile: str, min_length: int = 0, check_strength: bool = True
) -> str:
    """A secret: taken from the environment, or from NAME_FILE (a mounted secret file).

    Development profiles may fall back to a fixed, obviously insecure value; production
    never does, so a missing secret stops start-up, and refuses values published in this
    repository or too guessable to be keys (`check_strength=False` for secrets another
    party issues, such as an OIDC client secret).
    """
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if not value and path:
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r}: {exc.strerror}") from None
    if not value:
        if profile == "prod" or dev_default is None:
            raise ImproperlyConfigured(f"{name} is required in the {profile} profile but not set")
        return dev_default
    if len(value) < min_length:
        raise ImproperlyConfigured(f"{name} must be at least {min_length} characters long")
    if profile == "prod" and (check_strength or value in PUBLISHED_SECRETS):
        weakness = secret_weakness(name, value)
        if weakness:
            raise ImproperlyConfigured(weakness)
    return value
