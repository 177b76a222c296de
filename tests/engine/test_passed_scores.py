"""`Engine.passed_scores` is `prioritize` at the passing nodes: the planner picks among
them with it, so a plan and /prioritize cannot disagree."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bench.workload import generate
from extender.cache.state import ClusterState
from extender.engine.config import default_configuration, parse_configuration
from extender.engine.engine import Engine, best_threshold, final_scores
from extender.model.pod import parse_pod


def _cluster(nodes: int, pods: int, seed: int) -> tuple[ClusterState, list[str], list[dict]]:
    """A synthetic cluster's nodes loaded into a state: (state, node names, pending pods)."""
    items = generate(nodes, pods, seed=seed)["items"]
    node_items = [i for i in items if i["kind"] == "Node"]
    state = ClusterState()
    state.load_items(node_items)
    names = [n["metadata"]["name"] for n in node_items]
    return state, names, [i for i in items if i["kind"] == "Pod"]


def test_passed_scores_are_prioritize_at_the_passing_nodes() -> None:
    state, names, pods = _cluster(40, 400, seed=5)
    no_scores = parse_configuration(
        {"apiVersion": "podsift/v1", "kind": "PolicyConfiguration", "scores": []}
    )
    for engine in (Engine(default_configuration()), Engine(no_scores)):
        compared = 0
        for obj in pods[::7]:
            info = parse_pod(obj)
            view, _, _ = state.view(names)
            passed = engine.filter(info, view, reasons=False).passed
            got = engine.passed_scores(info, view, passed)
            want = engine.prioritize(info, view, passed)[passed]
            assert got.dtype == want.dtype and np.array_equal(got, want)
            compared += len(passed) > 1
        assert compared > 10


# -- select: the best nodes by a threshold on the weighted totals ------------------


@given(
    st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=60),
    st.integers(0, 700),
)
def test_best_threshold_finds_exactly_the_best_final_scores(values: list[int], weights: int):
    """The nodes at or above the threshold are those whose 0..10 score is the best."""
    weighted = np.array(values, np.int64)
    final = final_scores(weighted, weights)
    want = final == final.max()
    got = weighted >= best_threshold(int(weighted.max()), weights)
    assert np.array_equal(got, want)


def test_select_picks_as_prioritize_ranks() -> None:
    """`select` (its own filter pass, the ties by threshold) picks what filter, then
    prioritize's best, then the same random draw among them would pick."""
    import random

    state, names, pods = _cluster(60, 900, seed=11)
    engine = Engine(default_configuration())
    reference = Engine(default_configuration(), spec_cache=False)
    rng, rng_ref = random.Random(3), random.Random(3)
    ties = placed = 0
    for obj in pods:
        info = parse_pod(obj)
        view, _, _ = state.view(names)
        got = engine.select(info, view, rng)
        passed = reference.filter(info, view, reasons=False).passed
        want = -1
        if len(passed):
            final = reference.prioritize(info, view, passed)[passed]
            best = passed[final == final.max()]
            ties += len(best) > 1
            want = int(best[0]) if len(best) == 1 else int(best[rng_ref.randrange(len(best))])
        assert got == want
        if got >= 0:
            state.bind_chosen(info, int(view.ids[got]), room_checked=False)
            placed += 1
    assert placed > 300 and ties > 50


def test_constant_answers_skipped_change_no_pick() -> None:
    """The engine skips and-ing `all_pass` and adding `zero_scores` (it knows them by
    identity): the same picks and weighted totals as with every answer a fresh copy,
    which it cannot recognize."""
    import random

    from extender.api import all_pass, zero_scores

    fast_state, names, pods = _cluster(60, 700, seed=4)
    slow_state, _, _ = _cluster(60, 700, seed=4)
    fast, slow = Engine(default_configuration()), Engine(default_configuration())
    seen = {"pass": 0, "zero": 0}

    def copying(method, kind):
        def wrapped(pod, view):
            out = method(pod, view)
            if out is (all_pass(view.n) if kind == "pass" else zero_scores(view.n)):
                seen[kind] += 1
            return np.array(out)  # writable: not the shared constant

        return wrapped

    for f in slow.filters:  # an instance attribute shadows the class's method
        f.policy.filter = copying(f.policy.filter, "pass")
    for s in slow.scores:
        s.policy.score = copying(s.policy.score, "zero")
    states = [fast_state, slow_state]
    rngs = [random.Random(9), random.Random(9)]
    for obj in pods:
        picks = []
        for engine, state, rng in zip((fast, slow), states, rngs, strict=True):
            info = parse_pod(obj)
            view, _, _ = state.view(names)
            pos = engine.select(info, view, rng)
            picks.append(pos)
            if pos >= 0:
                state.bind_chosen(info, int(view.ids[pos]), room_checked=False)
        assert picks[0] == picks[1]
    assert seen["pass"] > 100 and seen["zero"] > 100
