"""The one loader of policy files: the TOML documents that configure exception tiers, release
sign-off and retention.

Each app keeps its own `parse_policy(text, *, source)` (what its document means, validated
loudly); reading the file in force, parsing TOML, naming the file in every error and caching
per path happen here. A bad file stops every use: it is never guessed at.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Policy = TypeVar("Policy")


def policy_toml(text: str, *, what: str, source: str) -> dict:
    """The TOML document as a dict; ImproperlyConfigured naming the file when it is not valid TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfigured(f"{what} {source}: not valid TOML ({exc})") from None


@functools.cache
def _load(path: str, what: str, parse: Callable[..., Policy]) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"{what} {path}: cannot read it ({exc})") from None
    return parse(text, source=path)


def policy_file_load(*, setting: str, shipped: Path, what: str, parse: Callable[..., Policy]) -> Policy:
    """The policy in force: the file `settings.<setting>` names, else the shipped one.

    Read once per path (restart web and workers after editing it); `what` names the policy in errors.
    """
    path = getattr(settings, setting, "") or str(shipped)
    return _load(str(path), what, parse)
