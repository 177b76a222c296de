"""/preempt: which proposed nodes podsift keeps, and what it answers for them.

The answer must decode as kube-scheduler's ExtenderPreemptionResult and survive
its convertToVictims: a kept node's victims are the UIDs it proposed for that
node, NumPDBViolations a non-negative integer, and no node without victims.
"""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.testing import make_pod
from extender.wire.service import Service
from tests.helpers import make_state, node, pod


def service(nodes, pods=()) -> Service:
    return Service(make_state(nodes, pods), Engine(default_configuration()))


def meta(**victims) -> dict:
    """NodeNameToMetaVictims from node=[uids] (NumPDBViolations 0)."""
    return {
        n: {"Pods": [{"UID": u} for u in uids], "NumPDBViolations": 0}
        for n, uids in victims.items()
    }


def with_port(name, port, node_name=None, ip="", protocol="TCP", cpu=None) -> dict:
    p = pod(name, cpu=cpu, node_name=node_name, uid=f"u-{name}")
    p["spec"]["containers"][0]["ports"] = [
        {"containerPort": port, "hostPort": port, "hostIP": ip, "protocol": protocol}
    ]
    return p


def test_resources_freed_by_the_victims_decide():
    svc = service(
        [node("a", cpu="2"), node("b", cpu="2")],
        [
            pod("va", cpu="1500m", node_name="a", uid="ua"),
            pod("vb1", cpu="1", node_name="b", uid="ub1"),
            pod("vb2", cpu="1", node_name="b", uid="ub2"),
        ],
    )
    args = {"Pod": pod("p", cpu="1500m"), "NodeNameToMetaVictims": meta(a=["ua"], b=["ub1"])}
    assert svc.preempt(args)["NodeNameToMetaVictims"] == meta(a=["ua"])
    args = {"Pod": pod("p", cpu="1500m"), "NodeNameToMetaVictims": meta(b=["ub1", "ub2"])}
    assert svc.preempt(args)["NodeNameToMetaVictims"] == meta(b=["ub1", "ub2"])


def test_a_victim_frees_its_pod_slot():
    svc = service(
        [node("a", pods="2"), node("b", pods="2")],
        [pod(f"{n}{i}", node_name=n, uid=f"u{n}{i}") for n in "ab" for i in range(2)],
    )
    args = {"Pod": pod("p"), "NodeNameToMetaVictims": meta(a=["ua0"], b=["ughost"])}
    # on b the only victim is not a pod podsift knows: nothing is freed, b stays full
    assert svc.preempt(args)["NodeNameToMetaVictims"] == meta(a=["ua0"])


def test_host_ports_freed_by_victims_only():
    svc = service(
        [node("a"), node("b"), node("c"), node("d")],
        [
            with_port("pa", 80, "a"),
            with_port("pb1", 80, "b", ip="10.0.0.1"),
            with_port("pb2", 80, "b", ip="10.0.0.2"),
            with_port("pc", 80, "c", protocol="UDP"),
            with_port("pd", 80, "d"),
            pod("other-d", node_name="d", uid="u-other-d"),
        ],
    )
    args = {
        "Pod": with_port("p", 80),
        "NodeNameToMetaVictims": meta(
            a=["u-pa"],  # the only holder of port 80 leaves
            b=["u-pb1"],  # 10.0.0.2 still holds it: the wildcard wanted port conflicts
            c=["u-pc"],  # UDP 80 never conflicted with TCP 80
            d=["u-other-d"],  # the holder of the port stays
        ),
    }
    assert set(svc.preempt(args)["NodeNameToMetaVictims"]) == {"a", "c"}
    # asking for the freed IP only, b is usable
    args["Pod"] = with_port("p", 80, ip="10.0.0.1")
    assert set(svc.preempt(args)["NodeNameToMetaVictims"]) == {"a", "b", "c"}


def test_unknown_nodes_and_victims_elsewhere():
    svc = service(
        [node("a", cpu="2"), node("b", cpu="2")],
        [pod("va", cpu="2", node_name="a", uid="ua"), pod("vb", cpu="2", node_name="b", uid="ub")],
    )
    args = {
        "Pod": pod("p", cpu="1"),
        # "ub" is on b, not a: proposing it for a frees nothing on a
        "NodeNameToMetaVictims": meta(a=["ub"], b=["ub"], ghost=["ua"]),
    }
    assert svc.preempt(args)["NodeNameToMetaVictims"] == meta(b=["ub"])


def test_the_answer_echoes_each_proposal_as_sent():
    svc = service([node("a", cpu="2")], [pod("va", cpu="2", node_name="a", uid="ua")])
    victims = {"Pods": [{"UID": "ua"}, {"UID": "not-in-podsift"}, {"UID": "ua"}]}
    victims["NumPDBViolations"] = 3
    out = svc.preempt({"Pod": pod("p", cpu="2"), "NodeNameToMetaVictims": {"a": victims}})
    # kube-scheduler looks each UID up on the node again: podsift adds, drops and
    # reorders none, and a duplicate counts once in podsift's own evaluation
    assert out == {"NodeNameToMetaVictims": {"a": victims}}


def test_full_pod_victims_and_null_fields():
    running = pod("va", cpu="2", node_name="a", uid="ua")
    svc = service([node("a", cpu="2"), node("b", cpu="2")], [running])
    args = {
        "Pod": pod("p", cpu="2"),
        "NodeNameToMetaVictims": None,
        "NodeNameToVictims": {
            "a": {"Pods": [running], "NumPDBViolations": None},
            "b": {"Pods": None, "NumPDBViolations": 0},
        },
    }
    # a node proposed with no victims is left out: kube-scheduler 1.34 fails the
    # whole preemption on an answer that names a node without victims
    assert svc.preempt(args) == {"NodeNameToMetaVictims": meta(a=["ua"])}


def test_one_form_given_the_other_empty_is_fine():
    svc = service([node("a", cpu="2")], [pod("va", cpu="2", node_name="a", uid="ua")])
    args = {"Pod": pod("p", cpu="1"), "NodeNameToMetaVictims": meta(a=["ua"])}
    args["NodeNameToVictims"] = {}
    assert svc.preempt(args)["NodeNameToMetaVictims"] == meta(a=["ua"])
    assert svc.preempt({"Pod": pod("p")}) == {"NodeNameToMetaVictims": {}}


def test_numpdbviolations_round_trips_as_a_go_int64():
    svc = service([node("a", cpu="2")], [pod("va", cpu="2", node_name="a", uid="ua")])
    big = 2**63 - 1
    victims = {"Pods": [{"UID": "ua"}], "NumPDBViolations": big}
    out = svc.preempt({"Pod": pod("p", cpu="1"), "NodeNameToMetaVictims": {"a": victims}})
    raw = orjson.dumps(out)
    assert b'"NumPDBViolations":9223372036854775807' in raw
    assert orjson.loads(raw)["NodeNameToMetaVictims"]["a"]["NumPDBViolations"] == big


def test_preempt_changes_no_state():
    svc = service([node("a", cpu="2")], [pod("va", cpu="2", node_name="a", uid="ua")])
    before = (svc.state.truth(), svc.state.generation)
    svc.preempt({"Pod": pod("p", cpu="1"), "NodeNameToMetaVictims": meta(a=["ua"])})
    assert (svc.state.truth(), svc.state.generation) == before


# ---- the batched evaluation against a brute-force reference ------------------------

PORTS = [("", "TCP", 80), ("10.0.0.1", "TCP", 80), ("", "UDP", 80), ("10.0.0.2", "TCP", 8080)]


@st.composite
def clusters(draw):
    n_nodes = draw(st.integers(1, 5))
    nodes = [
        node(f"n{i}", cpu=str(draw(st.integers(1, 4))), pods=str(draw(st.integers(1, 4))))
        for i in range(n_nodes)
    ]
    pods = []
    for k in range(draw(st.integers(0, 12))):
        p = pod(
            f"p{k}",
            cpu=f"{draw(st.integers(0, 2000))}m",
            memory=draw(st.sampled_from([None, "1Gi"])),
            node_name=f"n{draw(st.integers(0, n_nodes))}",  # n{n_nodes} is not a node
            uid=f"u{k}",
        )
        ports = draw(st.lists(st.sampled_from(PORTS), max_size=2, unique=True))
        p["spec"]["containers"][0]["ports"] = [
            {"containerPort": port, "hostPort": port, "hostIP": ip, "protocol": proto}
            for ip, proto, port in ports
        ]
        pods.append(p)
    preemptor = pod("new", cpu=f"{draw(st.integers(0, 3000))}m")
    ports = draw(st.lists(st.sampled_from(PORTS), max_size=1))
    preemptor["spec"]["containers"][0]["ports"] = [
        {"containerPort": port, "hostPort": port, "hostIP": ip, "protocol": proto}
        for ip, proto, port in ports
    ]
    uids = [p["metadata"]["uid"] for p in pods] + ["stranger"]
    names = [f"n{i}" for i in range(n_nodes + 1)]
    proposals = draw(
        st.dictionaries(st.sampled_from(names), st.lists(st.sampled_from(uids), max_size=4))
    )
    return nodes, pods, preemptor, proposals


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_batched_preempt_matches_filtering_each_node_without_its_victims(case):
    nodes, pods, preemptor, proposals = case
    svc = service(nodes, pods)
    args = {"Pod": preemptor, "NodeNameToMetaVictims": meta(**proposals)}
    got = svc.preempt(args)["NodeNameToMetaVictims"]
    engine = Engine(default_configuration())
    expected = {}
    known = {n["metadata"]["name"] for n in nodes}
    for name, uids in proposals.items():
        if name not in known or not uids:
            continue
        # the reference: the cluster rebuilt without this node's own victims, filtered
        left = [
            p for p in pods if not (p["spec"]["nodeName"] == name and p["metadata"]["uid"] in uids)
        ]
        view, _, _ = make_state(nodes, left).view([name])
        if engine.filter(make_pod(preemptor), view).passed.size:
            expected[name] = {"Pods": [{"UID": u} for u in uids], "NumPDBViolations": 0}
    assert got == expected


# ---- any JSON at any place of ExtenderPreemptionArgs: an answer or InvalidInput ------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "ua", "a", "uid-x"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
META_POD = JSON | st.fixed_dictionaries({"UID": JSON}) | st.just({"UID": "ua"})
FULL_POD = JSON | st.fixed_dictionaries({"metadata": JSON | st.fixed_dictionaries({"uid": JSON})})


def victims_of(pod_shape):
    entry = st.fixed_dictionaries(
        {},
        optional={"Pods": JSON | st.lists(pod_shape, max_size=3), "NumPDBViolations": JSON},
    )
    return JSON | st.dictionaries(
        st.sampled_from(["a", "b", "ghost", ""]), JSON | entry, max_size=3
    )


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"Pod": st.just(pod("p", cpu="1"))},
        optional={
            "NodeNameToMetaVictims": victims_of(META_POD),
            "NodeNameToVictims": victims_of(FULL_POD),
        },
    )
)
def test_any_shape_answers_or_is_invalid_input(args):
    from extender.model.errors import InvalidInput

    svc = service([node("a", cpu="2"), node("b")], [pod("va", cpu="2", node_name="a", uid="ua")])
    try:
        out = svc.preempt(args)
    except InvalidInput as exc:
        assert str(exc)
        return
    # what comes back decodes as kube-scheduler's ExtenderPreemptionResult
    for victims in out["NodeNameToMetaVictims"].values():
        assert victims["Pods"] and all(
            isinstance(p["UID"], str) and p["UID"] for p in victims["Pods"]
        )
        n = victims["NumPDBViolations"]
        assert type(n) is int and 0 <= n < 2**63
