"""`Engine.passed_scores` is `prioritize` at the passing nodes: the planner picks among
them with it, so a plan and /prioritize cannot disagree."""

from __future__ import annotations

import numpy as np

from bench.workload import generate
from extender.cache.state import ClusterState
from extender.engine.config import default_configuration, parse_configuration
from extender.engine.engine import Engine
from extender.model.pod import parse_pod


def test_passed_scores_are_prioritize_at_the_passing_nodes() -> None:
    items = generate(40, 400, seed=5)["items"]
    nodes = [i for i in items if i["kind"] == "Node"]
    pods = [i for i in items if i["kind"] == "Pod"]
    state = ClusterState()
    state.load_items(nodes)
    names = [n["metadata"]["name"] for n in nodes]
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
