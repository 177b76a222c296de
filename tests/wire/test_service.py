"""Service verbs over decoded JSON: explain, preempt, both node-cache modes."""

from __future__ import annotations

from extender.engine.config import default_configuration, parse_configuration
from extender.engine.engine import Engine
from extender.wire.service import Service
from tests.helpers import make_state, node, pod


def service(nodes, pods=(), config=None) -> Service:
    cfg = default_configuration() if config is None else parse_configuration(config)
    return Service(make_state(nodes, pods), Engine(cfg))


def test_explain_matches_contract_shape_and_prioritize():
    svc = service([node("a", cpu="2"), node("b", cpu="8")], [pod("r", cpu="1500m", node_name="a")])
    args = {"Pod": pod("p", cpu="1"), "NodeNames": ["a", "b"]}
    out = svc.explain(args)["nodes"]
    assert [n["name"] for n in out] == ["a", "b"]
    a, b = out
    assert a["passed"] is False
    assert a["filters"]["NodeResourcesFit"] == {"pass": False, "reason": "Insufficient cpu"}
    assert a["scores"] == {} and a["score"] == 0
    assert b["passed"] is True
    assert set(b["scores"]) == {
        "NodeResourcesFit",
        "NodeResourcesBalancedAllocation",
        "ImageLocality",
        "NodeAffinity",
        "TaintToleration",
        "PodTopologySpread",
        "InterPodAffinity",
    }
    weights = {
        "NodeResourcesFit": 1,
        "NodeResourcesBalancedAllocation": 1,
        "ImageLocality": 1,
        "NodeAffinity": 2,
        "TaintToleration": 3,
        "PodTopologySpread": 2,
        "InterPodAffinity": 2,
    }
    assert b["weighted"] == sum(weights[k] * v for k, v in b["scores"].items())
    # weights sum to 12: weighted x 10 / 1200, rounded half up
    assert b["score"] == (2 * b["weighted"] * 10 + 1200) // 2400
    names, scores = svc.prioritize(args)
    assert names == ["a", "b"] and scores.tolist() == [0, b["score"]]


def test_nodes_mode_answers_with_the_same_objects():
    nodes = [node("a", cpu="1"), node("b", cpu="8")]
    svc = service(nodes)
    res = svc.filter({"Pod": pod("p", cpu="2"), "Nodes": {"items": nodes}})
    assert res["NodeNames"] is None
    assert res["Nodes"]["items"] == [nodes[1]]
    # 2 cpu can never fit a 1-cpu node: preemption cannot help (kube-scheduler 1.34)
    assert res["FailedAndUnresolvableNodes"] == {"a": "Insufficient cpu"}
    assert res["FailedNodes"] == {}


def test_nodes_mode_objects_are_authoritative_for_taints():
    tainted = node("a", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    svc = service([node("a")])
    res = svc.filter({"Pod": pod("p", cpu="1"), "Nodes": {"items": [tainted]}})
    assert res["Nodes"]["items"] == []
    assert "untolerated taint" in res["FailedAndUnresolvableNodes"]["a"]


def test_preempt_keeps_nodes_where_the_victims_make_room():
    svc = service(
        [node("a", cpu="2"), node("b", cpu="2")],
        [
            pod("va", cpu="1500m", node_name="a", uid="ua"),
            pod("vb1", cpu="1", node_name="b", uid="ub1"),
            pod("vb2", cpu="1", node_name="b", uid="ub2"),
        ],
    )
    args = {
        "Pod": pod("p", cpu="1500m"),
        "NodeNameToMetaVictims": {
            "a": {"Pods": [{"UID": "ua"}], "NumPDBViolations": 0},
            "b": {"Pods": [{"UID": "ub1"}], "NumPDBViolations": 1},
            "ghost": {"Pods": [], "NumPDBViolations": 0},
        },
    }
    before = svc.state.truth()
    out = svc.preempt(args)["NodeNameToMetaVictims"]
    assert out == {"a": {"Pods": [{"UID": "ua"}], "NumPDBViolations": 0}}
    assert svc.state.truth() == before


def test_empty_configuration_passes_every_node_and_scores_zero():
    svc = service([node("a", cpu="1"), node("b")], config={"filters": [], "scores": []})
    res = svc.filter({"Pod": pod("p", cpu="64"), "NodeNames": ["a", "b"]})
    assert res["NodeNames"] == ["a", "b"]
    assert svc.prioritize({"Pod": pod("p"), "NodeNames": ["b", "a"]})[1].tolist() == [0, 0]


def test_bind_then_filter_sees_the_capacity_taken():
    svc = service([node("a", cpu="2")])
    p1, p2 = pod("p1", cpu="1500m"), pod("p2", cpu="1")
    assert svc.filter({"Pod": p1, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    assert svc.bind({"PodUID": "uid-p1", "Node": "a"}) == {"Error": ""}
    res = svc.filter({"Pod": p2, "NodeNames": ["a"]})
    assert res["NodeNames"] == [] and res["FailedNodes"] == {"a": "Insufficient cpu"}


def test_prioritize_reuses_filter_verdicts_only_for_the_same_state():
    svc = service([node("a", cpu="2"), node("b", cpu="2")])
    p1, p2 = pod("p1", cpu="1500m"), pod("p2", cpu="1")
    args2 = {"Pod": p2, "NodeNames": ["a", "b"]}
    assert svc.filter(args2)["NodeNames"] == ["a", "b"]
    fresh = service([node("a", cpu="2"), node("b", cpu="2")])
    assert svc.prioritize(args2)[1].tolist() == fresh.prioritize(args2)[1].tolist()
    # a bind lands between this pod's filter and prioritize: node a is full now
    svc.filter(args2)
    svc.filter({"Pod": p1, "NodeNames": ["a"]})
    assert svc.bind({"PodUID": "uid-p1", "Node": "a"}) == {"Error": ""}
    scores = svc.prioritize(args2)[1].tolist()
    assert scores[0] == 0 and scores[1] > 0


def test_prioritize_over_nodes_the_filter_did_not_see_runs_the_filters():
    svc = service([node("a", cpu="2"), node("b", cpu="1")])
    p = pod("p", cpu="1500m")
    svc.filter({"Pod": p, "NodeNames": ["a"]})
    assert svc.prioritize({"Pod": p, "NodeNames": ["a", "b"]})[1].tolist()[1] == 0


def test_encoded_priorities_equal_the_plain_answer_in_every_mode():
    """The pre-encoded HostPriorityList is the plain one, byte for byte in meaning:
    names in table order, a reordered subset, unknown names among known ones, and
    full Node objects (known and unknown)."""
    import orjson

    nodes = [node(f"n{i}", cpu=str(2 + i)) for i in range(5)]
    svc = service(nodes, [pod("r", cpu="1", node_name="n1")])
    the_pod = pod("p", cpu="500m")
    for args in (
        {"Pod": the_pod, "NodeNames": ["n0", "n1", "n2", "n3", "n4"]},
        {"Pod": the_pod, "NodeNames": ["n3", "n0"]},
        {"Pod": the_pod, "NodeNames": ["ghost", "n2", "elsewhere", "n4"]},
        {"Pod": the_pod, "Nodes": {"items": [nodes[2], node("ghost"), nodes[0]]}},
        {"Pod": the_pod, "Nodes": {"items": nodes[::-1]}},
    ):
        names, scores = svc.prioritize(args)
        plain = [{"Host": n, "Score": s} for n, s in zip(names, scores.tolist())]
        assert orjson.loads(svc.prioritize_encoded(args)) == plain, args
        assert len(plain) == len(args.get("NodeNames") or args["Nodes"]["items"])
        assert any(s > 0 for s in scores.tolist())


def _affinity_pod(name, *terms, preferred=None):
    node_affinity = {}
    if terms:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": list(terms)
        }
    if preferred is not None:
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    return pod(name, cpu="100m", affinity={"nodeAffinity": node_affinity})


def test_unparseable_required_term_is_unschedulable_not_an_error():
    # Issue 9: upstream's lazy selector lets such a term match nothing, so the
    # pod is unschedulable with NodeAffinity's reason instead of failing.
    svc = service([node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"})])
    bad = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["not valid!"]}]}
    good = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}
    res = svc.filter({"Pod": _affinity_pod("only-bad", bad), "NodeNames": ["a", "b"]})
    assert res["Error"] == "" and res["NodeNames"] == [] and res["FailedNodes"] == {}
    reason = "node(s) didn't match Pod's node affinity/selector"
    assert res["FailedAndUnresolvableNodes"] == {"a": reason, "b": reason}
    args = {"Pod": _affinity_pod("bad-and-good", bad, good), "NodeNames": ["a", "b"]}
    res = svc.filter(args)
    assert res["Error"] == "" and res["NodeNames"] == ["b"]
    assert res["FailedAndUnresolvableNodes"] == {"a": reason}
    names, scores = svc.prioritize(args)
    assert names == ["a", "b"] and scores[0] == 0 and scores[1] > 0
    explained = svc.explain(args)["nodes"]
    assert explained[0]["filters"]["NodeAffinity"] == {"pass": False, "reason": reason}
    assert explained[1]["passed"] is True


def test_unparseable_preferred_term_does_not_fail_the_filter():
    svc = service([node("a"), node("b")])
    preferred = [
        {
            "weight": 5,
            "preference": {"matchFields": [{"key": "metadata.name", "operator": "In"}]},
        }
    ]
    res = svc.filter({"Pod": _affinity_pod("p", preferred=preferred), "NodeNames": ["a", "b"]})
    assert res["Error"] == "" and res["NodeNames"] == ["a", "b"]


def test_too_big_for_the_node_is_unresolvable_and_explain_and_bind_agree():
    svc = service(
        [node("small", cpu="1"), node("busy", cpu="4"), node("free", cpu="4")],
        [pod("e", cpu="3", node_name="busy")],
    )
    args = {"Pod": pod("p", cpu="2"), "NodeNames": ["small", "busy", "free"]}
    res = svc.filter(args)
    assert res["NodeNames"] == ["free"]
    assert res["FailedAndUnresolvableNodes"] == {"small": "Insufficient cpu"}
    assert res["FailedNodes"] == {"busy": "Insufficient cpu"}
    explained = {e["name"]: e for e in svc.explain(args)["nodes"]}
    for name in ("small", "busy"):
        verdict = explained[name]["filters"]["NodeResourcesFit"]
        assert verdict == {"pass": False, "reason": "Insufficient cpu"}
    for name in ("small", "busy"):
        assert svc.bind({"PodUID": "uid-p", "Node": name})["Error"].endswith(
            f"no longer fits on {name}: Insufficient cpu"
        )
    assert svc.bind({"PodUID": "uid-p", "Node": "free"}) == {"Error": ""}


def test_a_pod_resized_in_place_holds_its_allocation_for_filter_and_bind():
    resizing = pod("r", cpu="1", node_name="a")
    resizing["status"]["containerStatuses"] = [
        {"name": "c", "resources": {"requests": {"cpu": "3"}}, "allocatedResources": {"cpu": "3"}}
    ]  # downsized from 3 cpu in the spec, not yet actuated by the kubelet
    svc = service([node("a", cpu="4"), node("b", cpu="4")], [resizing])
    args = {"Pod": pod("p", cpu="2"), "NodeNames": ["a", "b"]}
    res = svc.filter(args)
    assert res["NodeNames"] == ["b"] and res["FailedNodes"] == {"a": "Insufficient cpu"}
    explained = svc.explain(args)["nodes"][0]
    assert explained["filters"]["NodeResourcesFit"]["reason"] == "Insufficient cpu"
    assert "Insufficient cpu" in svc.bind({"PodUID": "uid-p", "Node": "a"})["Error"]
