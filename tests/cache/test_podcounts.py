"""PodCounts: tracked selectors are bounded; a dropped one is rebuilt exactly."""

from __future__ import annotations

from extender.cache import podcounts
from extender.cache.state import ClusterState
from extender.model.podselector import compile_pod_selector
from extender.testing import node, pod


def selector(app):
    return compile_pod_selector({"matchLabels": {"app": app}}, "s")[0]


def test_cold_selectors_are_dropped_and_rebuilt(monkeypatch):
    monkeypatch.setattr(podcounts, "TRACKED_SELECTORS", 2)
    state = ClusterState()
    nodes = [node("a"), node("b")]
    pods = [pod(f"p{i}", node_name="ab"[i % 2], labels={"app": f"x{i % 3}"}) for i in range(9)]
    state.load_items(nodes + pods)
    counts = state.table.pod_counts
    view = state.view(["a", "b"])[0]
    for app in ("x0", "x1", "x2"):
        assert view.matching_pods("default", selector(app)).sum() == 3
    assert counts.tracked() == 2  # x0 dropped
    state.apply_pod(pod("late", node_name="a", labels={"app": "x0"}))
    view = state.view(["a", "b"])[0]
    assert view.matching_pods("default", selector("x0")).tolist() == [3, 1]
