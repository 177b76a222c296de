"""TolerationIndex answers exactly what walking the tolerations answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model.taints import (
    TAINT_EFFECTS,
    Taint,
    Toleration,
    TolerationIndex,
    tolerations_tolerate,
)

KEYS = st.sampled_from(["", "a", "b", "node.kubernetes.io/unschedulable"])
VALUES = st.sampled_from(["", "x", "y"])
TAINTS = st.builds(Taint, key=KEYS, value=VALUES, effect=st.sampled_from(TAINT_EFFECTS))
TOLERATIONS = st.builds(
    Toleration,
    key=KEYS,
    # "" is Equal to Toleration.tolerates; "Gt" tolerates nothing
    operator=st.sampled_from(["Equal", "Exists", "", "Gt"]),
    value=VALUES,
    effect=st.sampled_from(("", *TAINT_EFFECTS)),
)


@settings(max_examples=400, derandomize=True)
@given(st.lists(TOLERATIONS, max_size=6), st.lists(TAINTS, min_size=1, max_size=6))
def test_the_index_agrees_with_the_walk(tolerations, taints):
    index = TolerationIndex(tolerations)
    for taint in taints:
        assert index.tolerates(taint) is tolerations_tolerate(tolerations, taint)


def test_an_empty_key_exists_toleration_tolerates_every_taint():
    index = TolerationIndex([Toleration(operator="Exists")])
    assert index.tolerates(Taint("k", "v", "NoExecute"))
    assert not TolerationIndex([]).tolerates(Taint("k", "v", "NoExecute"))
