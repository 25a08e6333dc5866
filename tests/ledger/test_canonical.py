"""RFC 8785 canonical JSON for ledger entries."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.ledger.canonical import canonical_json, format_timestamp, to_jsonable


def test_keys_are_sorted_and_whitespace_is_dropped():
    assert canonical_json({"b": [1, True, None], "a": "x"}) == b'{"a":"x","b":[1,true,null]}'


def test_rfc8785_sorts_keys_by_utf16_code_units():
    # RFC 8785 3.2.3: U+1F600 (UTF-16 D83D DE00) sorts before U+FB01 by UTF-16 code units,
    # although it comes after it in code point order.
    assert canonical_json({"\ufb01": 2, "\U0001f600": 1, "a": 3}) == '{"a":3,"\U0001f600":1,"\ufb01":2}'.encode()


def test_rfc8785_number_formatting():
    assert canonical_json([1e21, 1e-7, 0.1, -0.0, 333333333.3333333]) == b"[1e+21,1e-7,0.1,0,333333333.3333333]"


def test_strings_are_escaped_minimally():
    assert canonical_json('\u20ac\n"\\\x01') == b'"\xe2\x82\xac\\n\\"\\\\\\u0001"'


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"when": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, r"\$\.when: datetime .* to_jsonable"),
        ({"n": float("nan")}, r"\$\.n: nan has no JSON representation"),
        ([1, float("inf")], r"\$\[1\]: inf"),
        ({"big": 2**53}, r"\$\.big: integer 9007199254740992 is outside"),
        ({"amount": decimal.Decimal("1.5")}, r"\$\.amount: Decimal"),
        ({"raw": b"bytes"}, r"\$\.raw: bytes"),
        ({1: "int key"}, "object key 1 is a int"),
        ({"tags": {"a", "b"}}, r"\$\.tags: set"),
        ("\ud800", "lone surrogate"),
    ],
)
def test_non_json_values_are_refused_with_their_path(value, complaint):
    with pytest.raises(ValueError, match=complaint):
        canonical_json(value)


def test_to_jsonable_converts_datetimes_uuids_and_decimals():
    value = {
        "at": dt.datetime(2024, 2, 29, 23, 30, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        "on": dt.date(2024, 2, 29),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "amount": decimal.Decimal("1.10"),
        "nested": [(dt.datetime(2024, 1, 1, tzinfo=dt.UTC),)],
    }
    assert to_jsonable(value) == {
        "at": "2024-03-01T01:30:01.000005Z",
        "on": "2024-02-29",
        "id": "12345678-1234-5678-1234-567812345678",
        "amount": "1.10",
        "nested": [["2024-01-01T00:00:00.000000Z"]],
    }
    canonical_json(to_jsonable(value))


def test_naive_datetimes_and_non_finite_decimals_are_refused():
    with pytest.raises(ValueError, match=r"\$\.at: naive datetime"):
        to_jsonable({"at": dt.datetime(2024, 1, 1)})
    with pytest.raises(ValueError, match="not a finite number"):
        to_jsonable({"x": decimal.Decimal("NaN")})


def test_equal_instants_in_different_zones_give_equal_timestamps():
    utc = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert format_timestamp(utc) == format_timestamp(utc.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_form_does_not_depend_on_key_insertion_order(value):
    def reverse_keys(v):
        if isinstance(v, dict):
            return {k: reverse_keys(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reverse_keys(x) for x in v]
        return v

    assert canonical_json(value) == canonical_json(reverse_keys(value))
