"""Shared types and small helpers for the evidence parsers.

Every parser is a pure function from bytes to `ParseResult`. Nothing here imports
Django or touches the database, so the parsers can be tested, fuzzed and benchmarked
on their own.

Edges read "target <relation> source": an edge goes from upstream (`source`) to
downstream (`target`), so `Edge(material, image, "built-from")` says the image was
built from the material, and `Edge(urllib3, requests, "depends-on")` says requests
depends on urllib3.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_LIST = 50  # summary lists are capped at this many items; totals sit alongside
MAX_TEXT = 500  # longest free text kept in a summary or record


class ParseError(Exception):
    """The input is not valid for this format; message says what a person should fix."""


@dataclass(frozen=True)
class Subject:
    """A normalized artifact identity: the same thing always gets the same `uri`."""

    kind: str  # commit, image, package, model-version, dataset, release, deployment, file, other
    uri: str
    digest: str = ""
    name: str = ""


@dataclass(frozen=True)
class Edge:
    """Lineage from upstream `source` to downstream `target`."""

    source: Subject
    target: Subject
    relation: str


@dataclass(frozen=True)
class Ending:
    """Deployments a piece of evidence says stopped running, at its effective time: the one named
    `deployment`, every running one in `slot` (a deployment identity without its last segment: an
    MLflow alias, a registry tag, an environment), or every deployment of the artifact `source`
    (an image deleted from its registry). Give one of the three (identities, as Subject.uri)."""

    deployment: str = ""
    slot: str = ""
    source: str = ""


@dataclass
class EvidenceFacts:
    """What one piece of evidence says, normalized for storage and display."""

    kind: str
    title: str
    verdict: str  # "pass" | "fail" | "info"
    verdict_reason: str
    effective_at: datetime | None
    subjects: list[Subject]
    summary: dict
    edges: list[Edge] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    # The parts the evidence's subject is made of (an SBOM's packages): evidence_record() draws
    # part -contains-> primary subject once it knows that subject (the uploader's, or the parser's).
    contents: list[Subject] = field(default_factory=list)
    # Deployments this evidence ends (an alias deleted, a stage left, an image deleted). A new
    # deployment edge ends the one running in its slot without being named here.
    ends: list[Ending] = field(default_factory=list)
    # Subjects (Subject.uri) this evidence says no longer exist (a manifest deleted from its
    # registry): evidence_record() marks those artifacts deleted at the evidence's time.
    deleted: list[str] = field(default_factory=list)
    # What a signature check needs (provenance): parsers cannot check, they have no keys;
    # apps.ingest.trust checks it before the evidence is recorded. Never stored as such.
    verification: dict | None = None


@dataclass
class ParseResult:
    """The format that was parsed and the evidence found in it."""

    format: str
    evidence: list[EvidenceFacts]


# --- helpers shared by the parsers -------------------------------------------------


def guard(label: str) -> Callable:
    """Turn every unexpected exception of a parser into a ParseError.

    Parsers raise ParseError themselves with precise messages where they validate;
    this is the backstop so that a malformed document can never surface as a
    KeyError or RecursionError in a worker.
    """

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except ParseError:
                raise
            except RecursionError:
                raise ParseError(f"{label}: the document is nested too deeply to read") from None
            except MemoryError:
                raise ParseError(f"{label}: the document is too large to read") from None
            except Exception as exc:  # noqa: BLE001 - the contract is "ParseError or success"
                raise ParseError(f"{label}: could not read the document ({type(exc).__name__}: {exc})"[:1000]) from exc

        return wrapper

    return decorate


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def load_json(body: bytes, label: str):
    """Parse JSON bytes (UTF-8/16/32), rejecting NaN/Infinity, with readable errors."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ParseError(f"{label}: expected bytes, got {type(body).__name__}")
    try:
        return json.loads(bytes(body), parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError(f"{label}: the JSON is nested too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except UnicodeDecodeError:
        raise ParseError(f"{label}: the file is not UTF-8 text") from None
    except ValueError as exc:  # e.g. integers longer than Python's 4300-digit limit
        raise ParseError(f"{label}: not valid JSON ({exc})"[:1000]) from None


def load_json_object(body: bytes, label: str) -> dict:
    data = load_json(body, label)
    if not isinstance(data, dict):
        raise ParseError(f"{label}: expected a JSON object at the top level, got {json_type(data)}")
    return data


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def obj(value, where: str, label: str, *, required: bool = False) -> dict:
    """`value` as a dict; {} when absent; ParseError when present but not an object."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        if value is None:
            raise ParseError(f"{label}: {where} is missing")
        raise ParseError(f"{label}: {where} must be an object, got {json_type(value)}")
    return value


def arr(value, where: str, label: str, *, required: bool = False) -> list:
    """`value` as a list; [] when absent; ParseError when present but not an array."""
    if value is None and not required:
        return []
    if not isinstance(value, list):
        if value is None:
            raise ParseError(f"{label}: {where} is missing")
        raise ParseError(f"{label}: {where} must be an array, got {json_type(value)}")
    return value


def text(value, limit: int = MAX_TEXT) -> str:
    """A display string: non-strings become "", long strings are cut."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if math.isfinite(value) else ""
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def number(value) -> float | None:
    """A finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        try:
            result = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


_TZ_SPACE = re.compile(r"\s+(?=[+-]\d{2}:?\d{2}$)")


def parse_datetime(value) -> datetime | None:
    """An aware UTC datetime from ISO 8601-ish text or epoch seconds; None if unreadable.

    Handles "2020-10-05T16:33:49Z", "2016-08-12 15:26:29 UTC", "2021-04-28 21:50:00 +0200"
    and timestamps without a zone (taken as UTC: JUnit writers often omit it).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 <= value < 32503680000:
            return None
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str):
        return None
    raw = value.strip()
    if not raw or len(raw) > 64:
        return None
    if raw.endswith(" UTC"):
        raw = raw[:-4] + "+00:00"
    raw = _TZ_SPACE.sub("", raw)
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.year < 1971:  # "0001-01-01T00:00:00Z" is GitHub's "no date"
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def capped(items, limit: int = MAX_LIST) -> list:
    out = []
    for item in items:
        if len(out) >= limit:
            break
        out.append(item)
    return out


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"
