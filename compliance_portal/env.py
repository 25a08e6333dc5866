"""Read the environment once, loudly.

Every setting that differs per deployment comes through one of these functions, so a
typo in a value stops start-up with a message instead of silently taking a default.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()


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


def env_secret(name: str, *, dev_default: str | None, profile: str, min_length: int = 0) -> str:
    """A secret: taken from the environment, or from NAME_FILE (a mounted secret file).

    Development profiles may fall back to a fixed, obviously insecure value; production
    never does, so a missing secret stops start-up.
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
    return value
