"""ListItems: a JSON List's items decoded one at a time, the same items orjson
decodes from the whole document, or NotStreamable (never different items)."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model.documents import ListItems, NotStreamable

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)  # past 64 bits: orjson gives a double
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
_ITEMS = st.lists(st.dictionaries(st.text(max_size=6), _VALUES, max_size=4), max_size=6)


def _items(raw: bytes) -> list:
    return list(ListItems(raw))


def _same(a: object, b: object) -> bool:
    """Equal as decoded JSON (floats compared by value, -0.0 and 0.0 told apart)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(_ITEMS, st.dictionaries(st.sampled_from(["kind", "apiVersion", "metadata"]), _VALUES))
def test_the_items_of_any_list_are_the_ones_orjson_decodes(items: list, rest: dict) -> None:
    # json.dumps, not orjson.dumps: it writes integers past 64 bits too. Non-ASCII as
    # UTF-8, as kubectl writes it (an escaped surrogate pair is decoded whole instead)
    for doc in ({**rest, "items": items}, {"items": items, **rest}):
        for layout in ({"separators": (",", ":")}, {"indent": 2}):
            raw = json.dumps(doc, ensure_ascii=False, **layout).encode()
            assert _same(_items(raw), orjson.loads(raw)["items"])


_FRAGMENTS = st.sampled_from(
    [
        b"{", b"}", b"[", b"]", b",", b":", b" ", b"\n", b'"items"', b'"kind"', b'"List"',
        b'{"a":1}', b"1", b"-0", b"1.5e3", b"1e400", b"NaN", b"-Infinity", b"true", b"null",
        b'"x"', b'"\\ud800"', b'"\\u00e9"', b"18446744073709551616", b"\xff", b"x",
        b'{"items":[', b"]}", b'{"kind":"List","items":[', b'{"n":[1,{}]}',
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    _ITEMS,
    st.lists(st.tuples(st.integers(0, 2**20), _FRAGMENTS), max_size=3),
    st.sampled_from([None, 2]),
)
def test_any_text_yields_orjsons_items_or_refuses(items: list, edits: list, indent) -> None:
    # a List, then fragments dropped in anywhere: most edits break it, some do not
    raw = bytearray(json.dumps({"kind": "List", "items": items}, indent=indent).encode())
    for at, fragment in edits:
        at %= len(raw) + 1
        raw[at:at] = fragment
    try:
        got = _items(bytes(raw))
    except NotStreamable:
        return  # decoded whole instead
    doc = orjson.loads(bytes(raw))  # it took the text: so must orjson, to the same items
    assert isinstance(doc, dict) and _same(got, doc["items"])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind": "List"}',  # no items
        b'{"items": {}}',  # not an array
        b'{"items": [], "items": [{"a": 1}]}',  # repeated: orjson keeps the last
        b'{"items": [{"a": NaN}]}',
        b'{"items": [{"a": 1e400}]}',  # infinite as a double: orjson refuses
        b'{"items": [{"a": "\\ud800"}]}',  # a lone surrogate: orjson refuses
        b'{"items": [1, 2]} x',  # text after the document
        b'{"items": [1, 2]',  # cut short
        b"[1, 2]",  # not an object
        b'{"items": ["\xff"]}',  # not UTF-8
        b"items: []\n",  # YAML
        b'{"items": [' + b"[" * 5000 + b"]" * 5000 + b"]}",  # deeper than json goes
    ],
)
def test_what_it_would_decode_differently_is_refused(raw: bytes) -> None:
    with pytest.raises(NotStreamable):
        _items(raw)


def test_items_come_one_at_a_time() -> None:
    raw = b'{"items": [{"n": 1}, {"n": 2}, NaN]}'
    stream = iter(ListItems(raw))
    assert next(stream) == {"n": 1}  # before the rest is looked at
    assert next(stream) == {"n": 2}
    with pytest.raises(NotStreamable):
        next(stream)


def test_integers_past_64_bits_are_doubles_as_orjson_decodes_them() -> None:
    raw = b'{"items": [[18446744073709551615, 18446744073709551616, -9223372036854775809]]}'
    assert _items(raw) == orjson.loads(raw)["items"]
    assert [type(v) for v in _items(raw)[0]] == [int, float, float]
