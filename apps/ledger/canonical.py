"""RFC 8785 (JCS) canonical JSON for ledger entries. Pure: no Django.

The same logical entry must always hash to the same leaf, on any machine and in any
Python version, so entries are serialized with the JSON Canonicalization Scheme and
nothing else. Only JSON values go in; ``to_jsonable()`` turns the usual Python types
(aware datetimes, UUIDs, Decimals) into strings first, explicitly.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

import rfc8785

# I-JSON (RFC 7493) safe integers; rfc8785 refuses anything wider.
_INT_LIMIT = 2**53 - 1

# For values without numbers that are not integers, RFC 8785 is what the standard library's C encoder
# writes with sorted keys and no whitespace: the same minimal string escapes (\b \t \n \f \r, \" and
# \\; other controls as lowercase \u00xx; everything else, U+007F and U+2028 included, as UTF-8) and
# the same integers. Key order agrees for ASCII keys (UTF-16 and code point order differ only above
# U+FFFF). _plain() admits exactly those values; tests/ledger compare both paths byte for byte.
_STDLIB = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 serialization of ``obj``; ValueError naming the first non-JSON value.

    Accepted: None, bool, int within +/-(2**53 - 1), finite float, str, list/tuple,
    and dict with str keys. Anything else (datetime, Decimal, UUID, bytes, set, NaN...)
    is refused rather than guessed at: call ``to_jsonable()`` first.
    """
    # rfc8785 refuses everything _check_jsonable() does (out-of-range integers, NaN and infinities,
    # non-string keys, lone surrogates, other types), so the walk that names the offending path
    # only runs when serialization fails: a ledger entry is canonicalised on every write.
    if _plain(obj):
        try:
            return _STDLIB.encode(obj).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 refuses it, named below
            pass
    try:
        return rfc8785.dumps(obj)
    except Exception as exc:  # noqa: BLE001 - any refusal is re-raised below, named by its path
        _check_jsonable(obj, "$")
        raise ValueError(f"canonical_json: {exc}") from exc


def _plain(obj: Any) -> bool:
    """True when ``obj`` holds only None, booleans, I-JSON integers, strings, lists and dicts with
    ASCII string keys: the values for which the C encoder's output is the RFC 8785 one."""
    kind = type(obj)
    if obj is None or kind is bool or isinstance(obj, str):
        return True
    if kind is int:
        return -_INT_LIMIT <= obj <= _INT_LIMIT
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in obj.items())
    if kind is list:
        return all(_plain(v) for v in obj)
    return False


def to_jsonable(obj: Any) -> Any:
    """Recursively convert datetimes, dates, UUIDs and Decimals into JSON strings.

    - aware datetime -> UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always 6 fractional digits,
      so equal instants give equal strings); naive datetime -> ValueError
    - date -> ``YYYY-MM-DD``
    - UUID -> canonical lowercase hyphenated form
    - Decimal -> ``str(d)`` (keeps its exponent: Decimal("1.10") -> "1.10"); NaN or
      infinity -> ValueError
    - tuple -> list; dict -> dict with the same (str) keys

    Other values are returned unchanged; canonical_json() decides whether they are JSON.
    """
    # Every ledger write converts its data: the common shapes (plain dicts, lists, strings, numbers,
    # aware datetimes) go through a walk that builds no path strings; anything else starts the walk
    # again with paths, which has all the rules and names where a refusal is.
    try:
        return _plain_jsonable(obj)
    except _NotPlain:
        return _to_jsonable(obj, "$")


class _NotPlain(Exception):
    pass


_UNCHANGED = frozenset({str, int, bool, float, type(None)})


def _plain_jsonable(obj: Any) -> Any:
    kind = type(obj)
    if kind in _UNCHANGED:
        return obj
    if kind is dict:
        return {key: _plain_jsonable(value) for key, value in obj.items()}
    if kind is list or kind is tuple:
        return [_plain_jsonable(value) for value in obj]
    if kind is dt.datetime and obj.utcoffset() is not None:
        return format_timestamp(obj)
    if isinstance(obj, str):  # a str subclass (Django's TextChoices): kept, as the full walk keeps it
        return obj
    raise _NotPlain


def format_timestamp(value: dt.datetime) -> str:
    """An aware datetime as the fixed-width RFC 3339 UTC string used in ledger entries."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: ledger timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_jsonable(obj: Any, path: str) -> Any:
    # datetime is a subclass of date: test it first.
    if isinstance(obj, dt.datetime):
        try:
            return format_timestamp(obj)
        except ValueError as exc:
            raise ValueError(f"to_jsonable: {path}: {exc}") from None
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, decimal.Decimal):
        if not obj.is_finite():
            raise ValueError(f"to_jsonable: {path}: Decimal {obj} is not a finite number")
        return str(obj)
    if isinstance(obj, Mapping):
        return {key: _to_jsonable(value, f"{path}.{key}") for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(value, f"{path}[{i}]") for i, value in enumerate(obj)]
    return obj


def _check_jsonable(obj: Any, path: str) -> None:
    """Walk ``obj`` and raise ValueError at the first value JCS cannot represent."""
    if obj is None or isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if not -_INT_LIMIT <= obj <= _INT_LIMIT:
            raise ValueError(
                f"canonical_json: {path}: integer {obj} is outside the JSON-safe range "
                f"+/-(2**53 - 1); store it as a string"
            )
        return
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            raise ValueError(f"canonical_json: {path}: {obj} has no JSON representation")
        return
    if isinstance(obj, str):
        _check_str(obj, path)
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_jsonable(value, f"{path}[{i}]")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"canonical_json: {path}: object key {key!r} is a {type(key).__name__}, JSON keys are strings"
                )
            _check_str(key, f"{path} (key)")
            _check_jsonable(value, f"{path}.{key}")
        return
    hint = " (convert with to_jsonable() first)" if isinstance(obj, (dt.date, uuid.UUID, decimal.Decimal)) else ""
    raise ValueError(f"canonical_json: {path}: {type(obj).__name__} {obj!r} is not a JSON value{hint}")


def _check_str(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"canonical_json: {path}: string contains a lone surrogate, not valid Unicode") from None
