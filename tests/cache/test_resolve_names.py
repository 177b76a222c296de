"""Resolving a request's node names: the last list and the cache of lists must
answer exactly as resolving afresh, whatever the names (unknown ones,
duplicates, reorderings, lists the caller changes, the wire's tuples)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import make_state, node

KNOWN = ["a", "b", "c", "d"]
NAMES = st.sampled_from([*KNOWN, "zz", "b2"])


def _plain(result):
    ids, known, unknown, contiguous = result
    return ids.tolist(), known, list(unknown), bool(contiguous)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.lists(NAMES, max_size=6), st.booleans()), min_size=1, max_size=8))
def test_cached_resolution_equals_a_fresh_one(requests):
    state = make_state([node(n) for n in KNOWN])
    for names, as_tuple in requests:
        sent = tuple(names) if as_tuple else list(names)
        cached = _plain(state.resolve(sent))
        fresh = _plain(make_state([node(n) for n in KNOWN]).resolve(list(names)))
        assert cached == fresh, names


def test_a_list_changed_after_resolving_is_not_taken_for_the_old_one():
    state = make_state([node(n) for n in KNOWN])
    names = ["a", "b"]
    first = _plain(state.resolve(names))
    names.append("c")  # the caller reuses its list
    assert _plain(state.resolve(names)) == ([0, 1, 2], None, [], True)
    assert first == ([0, 1], None, [], True)


def test_the_wire_s_tuple_is_recognized_by_identity():
    state = make_state([node(n) for n in KNOWN])
    names = ("b", "a")
    first = state.resolve(names)
    assert state.resolve(names) is first
    assert _plain(first) == ([1, 0], None, [], False)
