"""Wire encoding: pre-encoded fragments equal what a plain encoder would produce."""

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from extender.model.errors import InvalidInput
from extender.wire import protocol


@given(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.integers(0, 10)), max_size=50))
def test_host_priority_list_matches_plain_encoding(entries):
    names = [n for n, _ in entries]
    scores = np.array([s for _, s in entries], np.int64)
    encoded = protocol.join_fragments(
        [protocol.host_fragment(n, s) for n, s in zip(names, scores.tolist())]
    )
    assert orjson.loads(encoded) == [{"Host": n, "Score": s} for n, s in entries]


@pytest.mark.parametrize("body, message", [(b"", "empty"), (b"{", "not valid JSON")])
def test_decode_errors(body, message):
    with pytest.raises(InvalidInput, match=message):
        protocol.decode(body)
