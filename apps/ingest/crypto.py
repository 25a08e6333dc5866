"""Encryption at rest for webhook signing secrets (Fernet, key(s) from PORTAL_SECRETS_KEY).

Signing secrets must be read back to check signatures, so they are encrypted, not hashed.
A comma-separated PORTAL_SECRETS_KEY rotates keys: the first encrypts, all decrypt.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@functools.lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"PORTAL_SECRETS_KEY: not a list of Fernet keys ({exc})") from None


def secret_encrypt(secret: str) -> str:
    return _fernet(settings.PORTAL_SECRETS_KEY).encrypt(secret.encode()).decode()


@functools.lru_cache(maxsize=1024)
def _decrypt(keys: str, token: str) -> str:
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the stored secret does not decrypt with PORTAL_SECRETS_KEY") from None


def secret_decrypt(token: str) -> str:
    # Cached per (keys, ciphertext): a rotated secret has a new ciphertext, so the cache never goes stale,
    # and the accept path does not pay for AES and HMAC on every delivery.
    return _decrypt(settings.PORTAL_SECRETS_KEY, token)
