"""Engine: integer combination into 0..10, filter order and reasons, explain."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from extender.config import PolicyConfiguration, PolicyEntry
from extender.engine import Engine, final_scores
from policies import base
from tests.helpers import make_pod, make_view, node, pod


def test_final_score_rounds_half_up_in_integers():
    # CONTRACT section 2: 153 with weights 1+1 gives 8
    assert final_scores(np.array([153, 150, 149, 0, 200]), 2).tolist() == [8, 8, 7, 0, 10]
    assert final_scores(np.array([5, 95]), 1).tolist() == [1, 10]
    assert final_scores(np.array([4]), 1).tolist() == [0]


@given(st.lists(st.integers(1, 100), min_size=1, max_size=6), st.data())
def test_every_final_score_is_an_integer_in_0_to_10(weights, data):
    per_policy = [data.draw(st.integers(0, 100)) for _ in weights]
    weighted = sum(w * s for w, s in zip(weights, per_policy))
    out = final_scores(np.array([weighted], np.int64), sum(weights))
    assert out.dtype.kind == "i"
    value = int(out[0])
    assert 0 <= value <= 10
    # the exact rational value, rounded half up
    exact_num, exact_den = weighted * 10, 100 * sum(weights)
    assert value == (2 * exact_num + exact_den) // (2 * exact_den)


class _Half(base.Policy):
    """Fails nodes whose name ends in an odd digit; scores by the digit."""

    unresolvable = False

    def filter(self, pod, nodes):
        return np.array([int(n[-1]) % 2 == 0 for n in nodes.names])

    def reasons(self, pod, nodes, failed):
        return ["odd" for _ in failed]

    def score(self, pod, nodes):
        return np.array([int(n[-1]) * 10 for n in nodes.names], np.int64)


class _Never(_Half):
    unresolvable = True

    def filter(self, pod, nodes):
        return np.zeros(nodes.n, bool)

    def reasons(self, pod, nodes, failed):
        return ["never" for _ in failed]


def _engine(filters, scores):
    base.register("TestHalf", _Half)
    base.register("TestNever", _Never)
    return Engine(
        PolicyConfiguration(
            filters=tuple(PolicyEntry(f) for f in filters),
            scores=tuple(PolicyEntry(s, w) for s, w in scores),
        )
    )


def test_first_failing_filter_gives_the_reason_and_its_kind():
    engine = _engine(["TestHalf", "TestNever"], [])
    view = make_view([node(f"n{i}") for i in range(4)])
    out = engine.filter(make_pod(pod("p", cpu="1")), view)
    assert out.passed.tolist() == []
    assert out.failed == {"n1": "odd", "n3": "odd"}
    assert out.unresolvable == {"n0": "never", "n2": "never"}


def test_prioritize_zero_for_filtered_nodes_and_explain_agrees():
    engine = _engine(["TestHalf"], [("TestHalf", 1)])
    view = make_view([node(f"n{i}") for i in range(5)])
    p = make_pod(pod("p", cpu="1"))
    assert engine.prioritize(p, view).tolist() == [0, 0, 2, 0, 4]
    explained = engine.explain(p, view)
    assert [e["score"] for e in explained] == [0, 0, 2, 0, 4]
    assert explained[1]["filters"]["TestHalf"] == {"pass": False, "reason": "odd"}
    assert explained[2]["scores"] == {"TestHalf": 20} and explained[2]["weighted"] == 20
    assert engine.select(p, view) == 4


def test_no_scores_means_every_node_scores_zero():
    engine = _engine([], [])
    view = make_view([node("a"), node("b")])
    assert engine.prioritize(make_pod(pod("p")), view).tolist() == [0, 0]


def test_builtins_are_found_through_entry_points():
    names = base.available()
    for expected in [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "NodeResourcesBalancedAllocation",
        "ImageLocality",
    ]:
        assert expected in names
