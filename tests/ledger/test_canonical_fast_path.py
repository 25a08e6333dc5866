"""The standard-library fast path of canonical_json() (issue 25) writes exactly what rfc8785 writes."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apps.ledger import canonical
from apps.ledger.canonical import canonical_json

# Every character, lone surrogates and controls included, in keys and values.
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(
    ["\x00\x1f\x7f", "\u2028\u2029", "\ud800", 'a"b\\c', "\b\f\n\r\t", "\U0001f600\ufb01", "é"]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_text | st.sampled_from(["a", "B", "_", "aa", "a1"]), inner, max_size=4)
    ),
    max_leaves=20,
)


def _reference(value):
    try:
        return rfc8785.dumps(value)
    except Exception:  # noqa: BLE001 - any refusal: canonical_json must refuse too
        return None


@settings(max_examples=800, deadline=None)
@given(_values)
@example({"\ufb01": 2, "\U0001f600": 1, "a": 3})  # UTF-16 order differs from code point order here
@example({"n": 2**53, "m": [-(2**53) + 1]})
def test_canonical_json_writes_what_rfc8785_writes_or_refuses_what_it_refuses(value):
    expected = _reference(value)
    if expected is None:
        with pytest.raises(ValueError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_a_ledger_entry_body_takes_the_fast_path(monkeypatch):
    body = {
        "v": 1,
        "time": "2026-12-06T09:00:00.000000Z",
        "actor": {"type": "system", "id": "receipt_parse", "label": "système"},
        "action": "evidence.recorded",
        "object": {"type": "evidence.evidence", "id": "42"},
        "data": {"receipt": "7", "records": 10_000, "new_edges": 0, "subject": "pkg:pypi/a@1\n", "ok": True},
    }
    expected = rfc8785.dumps(body)

    def refuse(_value):
        raise AssertionError("rfc8785 was called for a plain entry")

    monkeypatch.setattr(canonical.rfc8785, "dumps", refuse)
    assert canonical_json(body) == expected


def test_floats_and_non_ascii_keys_still_go_through_rfc8785():
    assert canonical_json({"x": 1.0, "\ufb01": 2, "\U0001f600": 3}) == rfc8785.dumps(
        {"x": 1.0, "\ufb01": 2, "\U0001f600": 3}
    )
    assert canonical_json([1e21, 0.1]) == b"[1e+21,0.1]"


_CONVERTIBLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
    | st.datetimes(timezones=st.none() | st.timezones()) | st.dates() | st.uuids() | st.decimals(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_CONVERTIBLE)
def test_to_jsonable_converts_or_refuses_as_the_walk_with_paths_does(value):
    """to_jsonable's walk without paths gives what the full walk gives, and refuses what it refuses
    with the same message (naive datetimes, NaN Decimals, at their path)."""
    try:
        expected = canonical._to_jsonable(value, "$")
    except ValueError as exc:
        with pytest.raises(ValueError) as refused:
            canonical.to_jsonable(value)
        assert str(refused.value) == str(exc)
        return
    assert canonical.to_jsonable(value) == expected


def test_to_jsonable_keeps_choice_values_on_the_walk_without_paths(monkeypatch):
    """Django's TextChoices values are str subclasses (a receipt's channel in every accept's entry):
    the walk without paths keeps them as they are, like the full walk, instead of starting over."""
    from apps.ingest.models import Receipt

    data = {"channel": Receipt.Channel.GITHUB, "sha256": "ab" * 32, "size": 5_700}
    expected = canonical._to_jsonable(data, "$")

    def refuse(_value, _path):
        raise AssertionError("the walk with paths ran for plain data")

    monkeypatch.setattr(canonical, "_to_jsonable", refuse)
    assert canonical.to_jsonable(data) == expected
    assert canonical_json(canonical.to_jsonable(data)) == rfc8785.dumps({**data, "channel": "github"})
