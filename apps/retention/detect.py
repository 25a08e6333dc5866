"""The direct-identifier detector: count e-mail addresses, phone numbers and national ids in a body.

Pure. Only counts leave this module (per pattern name): the matches are personal data and
are never copied into another table or the ledger.
"""

from __future__ import annotations

from apps.retention.policy import Detector


def identifiers_count(body: bytes, detector: Detector) -> dict[str, int]:
    """{pattern name: number of matches} for the patterns that matched at least once."""
    text = body[: detector.max_bytes].decode("utf-8", errors="replace")
    counts = {}
    for name, pattern in detector.patterns.items():
        ignore = detector.ignore.get(name, ())
        n = sum(1 for m in pattern.finditer(text) if not any(i.search(m.group(0)) for i in ignore))
        if n:
            counts[name] = n
    return counts
