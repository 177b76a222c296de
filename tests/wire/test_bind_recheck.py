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
