"""/bind asks the chosen node again what placed pods can change: another
scheduler's bind may land between a pod's /filter and its /bind (bench
--concurrency, several kube-schedulers sharing one podsift). Room and host ports
were re-checked before; the topology plugins' hard constraints now are too."""

from __future__ import annotations

from extender import testing
from extender.inprocess import InProcessExtender

SPREAD = [
    {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
]
ANTI = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"app": "db"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
}


def _extender() -> InProcessExtender:
    return InProcessExtender([testing.node("a"), testing.node("b")])


def _both_filter_then_bind(ext: InProcessExtender, first: dict, second: dict) -> dict:
    """Both pods filtered on the empty cluster (node a passes both), then both bound
    to a: the second bind's answer."""
    for p in (first, second):
        answer = ext.filter({"Pod": p, "NodeNames": ["a", "b"]})
        assert answer["NodeNames"] == ["a", "b"], answer
    for_first = {"PodName": first["metadata"]["name"], "PodNamespace": "default",
                 "PodUID": first["metadata"]["uid"], "Node": "a"}  # fmt: skip
    assert ext.bind(for_first) == {"Error": ""}
    return ext.bind(
        {"PodName": second["metadata"]["name"], "PodNamespace": "default",
         "PodUID": second["metadata"]["uid"], "Node": "a"}  # fmt: skip
    )


def test_a_bind_that_would_break_a_hard_spread_is_refused_and_changes_nothing():
    ext = _extender()
    web = [testing.pod(f"web-{i}", labels={"app": "web"}, topologySpreadConstraints=SPREAD)
           for i in range(2)]  # fmt: skip
    answer = _both_filter_then_bind(ext, *web)
    assert "no longer fits on a" in answer["Error"]
    assert "spread constraint" in answer["Error"]
    assert set(ext.state.by_node.on("a")) == {"uid-web-0"}  # nothing half-applied
    # filtered again, it goes where it fits now, and binds there
    assert ext.filter({"Pod": web[1], "NodeNames": ["a", "b"]})["NodeNames"] == ["b"]
    bind_b = {"PodName": "web-1", "PodNamespace": "default", "PodUID": "uid-web-1", "Node": "b"}
    assert ext.bind(bind_b) == {"Error": ""}


def test_a_bind_that_would_break_required_anti_affinity_is_refused():
    ext = _extender()
    db = [testing.pod(f"db-{i}", labels={"app": "db"}, affinity=ANTI) for i in range(2)]
    answer = _both_filter_then_bind(ext, *db)
    assert "no longer fits on a" in answer["Error"]
    assert set(ext.state.by_node.on("a")) == {"uid-db-0"}


def test_pods_without_such_constraints_bind_side_by_side():
    ext = _extender()
    plain = [testing.pod(f"p-{i}", cpu="1", labels={"app": "web"}) for i in range(2)]
    assert _both_filter_then_bind(ext, *plain) == {"Error": ""}
    assert set(ext.state.by_node.on("a")) == {"uid-p-0", "uid-p-1"}


def test_schedule_one_binds_what_it_just_filtered_without_asking_again():
    ext = _extender()
    asked = []
    recheck = ext.state.bind_recheck
    assert recheck is not None  # the default set has dynamic filters to ask

    def counting(pod, view):
        asked.append(pod.name)
        return recheck(pod, view)

    ext.state.bind_recheck = counting
    web = testing.pod("web-0", labels={"app": "web"}, topologySpreadConstraints=SPREAD)
    assert ext.schedule_one(web, ["a", "b"]) in ("a", "b")
    assert asked == []


def _counting_engine_recheck(ext: InProcessExtender) -> list[str]:
    """Count the engine's re-checks behind the service's /bind shortcut."""
    asked: list[str] = []
    recheck = ext.service._engine_recheck
    assert recheck is not None

    def counting(pod, view):
        asked.append(f"{pod.name}@{view.names[0]}")
        return recheck(pod, view)

    ext.service._engine_recheck = counting
    return asked


def _bind(ext: InProcessExtender, pod: dict, node: str) -> dict:
    meta = pod["metadata"]
    return ext.bind({"PodName": meta["name"], "PodNamespace": "default",
                     "PodUID": meta["uid"], "Node": node})  # fmt: skip


def test_a_bind_right_after_its_filter_passed_the_node_asks_nothing_again():
    ext = _extender()
    asked = _counting_engine_recheck(ext)
    web = testing.pod("web-0", labels={"app": "web"}, topologySpreadConstraints=SPREAD)
    assert ext.filter({"Pod": web, "NodeNames": ["a", "b"]})["NodeNames"] == ["a", "b"]
    ext.prioritize({"Pod": web, "NodeNames": ["a", "b"]})
    assert _bind(ext, web, "a") == {"Error": ""}
    assert asked == []  # nothing changed since /filter passed a
    assert set(ext.state.by_node.on("a")) == {"uid-web-0"}


def test_a_bind_after_another_bind_or_to_a_node_not_passed_is_asked_again():
    ext = _extender()
    asked = _counting_engine_recheck(ext)
    web = [testing.pod(f"web-{i}", labels={"app": "web"}, topologySpreadConstraints=SPREAD)
           for i in range(3)]  # fmt: skip
    for p in web[:2]:
        ext.filter({"Pod": p, "NodeNames": ["a", "b"]})
    assert _bind(ext, web[0], "a") == {"Error": ""}
    assert asked == []
    # web-1's /filter predates web-0's bind: asked, and refused (skew 2 on a)
    assert "no longer fits on a" in _bind(ext, web[1], "a")["Error"]
    assert asked == ["web-1@a"]
    # web-2 filtered now: only b passes; a bind to a is asked, not waved through
    assert ext.filter({"Pod": web[2], "NodeNames": ["a", "b"]})["NodeNames"] == ["b"]
    assert "no longer fits on a" in _bind(ext, web[2], "a")["Error"]
    assert asked == ["web-1@a", "web-2@a"]
    assert set(ext.state.by_node.on("a")) == {"uid-web-0"}
