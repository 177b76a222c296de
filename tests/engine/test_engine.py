"""Engine: integer combination into 0..10, filter order and reasons, explain, and the
checks it makes of every plugin's answers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from extender.api import Policy
from extender.engine.config import PolicyConfiguration, PolicyEntry, default_configuration
from extender.engine.engine import Engine, final_scores
from extender.framework import registry
from extender.model.errors import PolicyError
from tests.helpers import make_pod, make_view, node, pod


def test_final_score_rounds_half_up_in_integers():
    # docs/CONTRACT.md §2: 153 with weights 1+1 gives 8
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


class _Half(Policy):
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


class _Split(_Never):
    """Fails every node; only nodes whose digit is at least 2 are unresolvable."""

    unresolvable = False

    def unresolvable_mask(self, pod, nodes, failed):
        return type(self).mask(nodes, failed)

    @staticmethod
    def mask(nodes, failed):
        return np.array([int(nodes.names[i][-1]) >= 2 for i in failed])


@pytest.fixture(autouse=True)
def _test_policies():
    registry.register("TestHalf", _Half)
    registry.register("TestNever", _Never)
    registry.register("TestSplit", _Split)
    yield
    for name in ("TestHalf", "TestNever", "TestSplit", "TestBroken"):
        registry.unregister(name)


def _engine(filters, scores, **kwargs):
    return Engine(
        PolicyConfiguration(
            filters=tuple(PolicyEntry(f) for f in filters),
            scores=tuple(PolicyEntry(s, w) for s, w in scores),
        ),
        **kwargs,
    )


def test_first_failing_filter_gives_the_reason_and_its_kind():
    engine = _engine(["TestHalf", "TestNever"], [])
    view = make_view([node(f"n{i}") for i in range(4)])
    out = engine.filter(make_pod(pod("p", cpu="1")), view)
    assert out.passed.tolist() == []
    assert out.failed == {"n1": "odd", "n3": "odd"}
    assert out.unresolvable == {"n0": "never", "n2": "never"}


def test_a_filter_may_tell_unresolvable_nodes_apart():
    engine = _engine(["TestHalf", "TestSplit"], [])
    view = make_view([node(f"n{i}") for i in range(5)])
    out = engine.filter(make_pod(pod("p", cpu="1")), view)
    assert out.failed == {"n0": "never", "n1": "odd", "n3": "odd"}
    assert out.unresolvable == {"n2": "never", "n4": "never"}


@pytest.mark.parametrize(
    "mask, got",
    [
        (lambda nodes, failed: [1] * len(failed), "got a list"),
        (lambda nodes, failed: np.ones(len(failed) - 1, bool), "shape \\(3,\\)"),
    ],
)
def test_an_unresolvable_mask_of_the_wrong_shape_fails_the_request(monkeypatch, mask, got):
    monkeypatch.setattr(_Split, "mask", staticmethod(mask))
    engine = _engine(["TestSplit"], [])
    with pytest.raises(
        PolicyError, match="unresolvable_mask\\(\\) must return a bool array.*" + got
    ):
        engine.filter(make_pod(pod("p")), make_view(VIEW_NODES))


def test_too_big_for_the_node_goes_to_unresolvable_and_full_nodes_stay_resolvable():
    # kube-scheduler 1.34 (PR #131345): preemption cannot make room on a node
    # whose whole allocatable is smaller than the request.
    engine = Engine(default_configuration())
    nodes = [node("small", cpu="1"), node("busy", cpu="4"), node("fits", cpu="4")]
    view = make_view(nodes, [pod("e", cpu="3", node_name="busy")])
    out = engine.filter(make_pod(pod("p", cpu="2")), view)
    assert view.names_array[out.passed].tolist() == ["fits"]
    assert out.unresolvable == {"small": "Insufficient cpu"}
    assert out.failed == {"busy": "Insufficient cpu"}
    gpu_pod = pod("g", cpu="1")
    gpu_pod["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    out = engine.filter(make_pod(gpu_pod), view)
    assert out.failed == {}  # no node has the resource at all
    assert out.unresolvable == {
        "small": "Insufficient example.com/gpu",
        "busy": "Insufficient example.com/gpu",
        "fits": "Insufficient example.com/gpu",
    }


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
    names = set(registry.available())
    defaults = default_configuration()
    builtins = {e.name for e in defaults.filters} | {e.name for e in defaults.scores}
    assert len(builtins) == 10 and builtins <= names


# ---- what the engine checks of a plugin's answers -------------------------------------


class _Broken(_Half):
    """Answers whatever the test sets on the class."""

    verdict = None
    texts = None
    values = None

    def filter(self, pod, nodes):
        return type(self).verdict(nodes.n)

    def reasons(self, pod, nodes, failed):
        return type(self).texts(len(failed))

    def score(self, pod, nodes):
        return type(self).values(nodes.n)


def _broken(monkeypatch, verdict=None, texts=None, values=None):
    monkeypatch.setattr(_Broken, "verdict", staticmethod(verdict or (lambda n: np.ones(n, bool))))
    monkeypatch.setattr(_Broken, "texts", staticmethod(texts or (lambda k: ["no"] * k)))
    monkeypatch.setattr(_Broken, "values", staticmethod(values or (lambda n: np.zeros(n, int))))
    registry.register("TestBroken", _Broken)


VIEW_NODES = [node(f"n{i}") for i in range(4)]


@pytest.mark.parametrize(
    "verdict, message",
    [
        (
            lambda n: np.ones(n, np.int64),
            "a bool array of shape \\(4,\\), got an array of dtype int64",
        ),
        (
            lambda n: np.ones(n + 1, bool),
            "a bool array .*, got an array of dtype bool and shape \\(5,\\)",
        ),
        (lambda n: None, "a bool array .*, got a NoneType"),
    ],
)
def test_a_filter_of_the_wrong_type_or_shape_fails_the_request(monkeypatch, verdict, message):
    _broken(monkeypatch, verdict=verdict)
    engine = _engine(["TestBroken"], [])
    with pytest.raises(PolicyError, match="policy TestBroken: filter\\(\\) must return " + message):
        engine.filter(make_pod(pod("p")), make_view(VIEW_NODES))


def test_reasons_of_the_wrong_length_are_not_truncated(monkeypatch):
    _broken(monkeypatch, verdict=lambda n: np.zeros(n, bool), texts=lambda k: ["no"] * (k - 1))
    engine = _engine(["TestBroken"], [])
    with pytest.raises(PolicyError, match="reasons\\(\\) must return 4 strings, got 3 reasons"):
        engine.filter(make_pod(pod("p")), make_view(VIEW_NODES))
    _broken(monkeypatch, verdict=lambda n: np.zeros(n, bool), texts=lambda k: [1] * k)
    with pytest.raises(PolicyError, match="must return strings, got int"):
        _engine(["TestBroken"], []).explain(make_pod(pod("p")), make_view(VIEW_NODES))


@pytest.mark.parametrize(
    "values, message",
    [
        (
            lambda n: np.full(n, 50.0),
            "an integer array of shape \\(4,\\), got an array of dtype float64",
        ),
        (
            lambda n: np.zeros(n - 1, np.int64),
            "an integer array .*, got an array of dtype int64 and shape \\(3,\\)",
        ),
    ],
)
def test_a_score_of_the_wrong_type_or_shape_fails_the_request(monkeypatch, values, message):
    _broken(monkeypatch, values=values)
    engine = _engine([], [("TestBroken", 1)])
    with pytest.raises(PolicyError, match="policy TestBroken: score\\(\\) must return " + message):
        engine.prioritize(make_pod(pod("p")), make_view(VIEW_NODES))


def test_a_score_out_of_range_is_clamped(monkeypatch):
    _broken(monkeypatch, values=lambda n: np.array([-5, 0, 100, 250])[:n])
    engine = _engine([], [("TestBroken", 1)])
    assert engine.prioritize(make_pod(pod("p")), make_view(VIEW_NODES)).tolist() == [0, 0, 10, 10]


def test_only_podsifts_own_builtins_skip_the_checks():
    engine = Engine(default_configuration())
    assert [f.checked for f in engine.filters] == [False] * len(engine.filters)
    assert [s.checked for s in engine.scores] == [False] * len(engine.scores)
    assert all(f.checked for f in Engine(default_configuration(), check_all=True).filters)
    assert _engine(["TestHalf"], [("TestHalf", 1)]).filters[0].checked is True


def test_builtins_pass_the_checks_they_are_trusted_to_pass():
    """The default policies over a varied cluster, every answer checked."""
    from bench.workload import generate_split

    nodes, pods = generate_split(60, 200, seed=3)
    engine = Engine(default_configuration(), check_all=True)
    view = make_view(nodes)
    for obj in pods:
        the_pod = make_pod(obj)
        engine.filter(the_pod, view)
        engine.prioritize(the_pod, view)
