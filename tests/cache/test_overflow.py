"""Issue 10 item 1 (and the column part of item 2): no quantity can wrap a column.

Amounts are bounded where they are parsed (a node's allocatable at MAX_AMOUNT, a
pod's request at OVER_MAX_AMOUNT), the node table's usage sums saturate there with
the exact sum kept beside them, and /bind repeats exactly the test /filter makes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.cache.nodetable import NONZERO_CPU
from extender.cache.state import ClusterState
from extender.engine.config import default_configuration, parse_configuration
from extender.engine.engine import Engine
from extender.model.errors import BindError
from extender.model.pod import parse_pod
from extender.model.quantity import MAX_AMOUNT, OVER_MAX_AMOUNT
from extender.wire.service import Service
from tests.helpers import make_state, node, pod

INT64_MAX = 2**63 - 1
BIG_CPU = "9223372036854775807m"  # the issue's pod


def service(state: ClusterState) -> Service:
    return Service(state, Engine(default_configuration()))


def columns_in_bounds(state: ClusterState) -> None:
    """Every column of the node table lies within podsift's bounds (no wrap, no sign)."""
    t = state.table
    for col, name in enumerate(t.resources):
        assert t.alloc[col].min() >= 0 and t.alloc[col].max() <= MAX_AMOUNT, name
        assert t.req[col].min() >= 0 and t.req[col].max() <= OVER_MAX_AMOUNT, name
    for column in (t.nonzero_cpu, t.nonzero_mem):
        assert column.min() >= 0 and column.max() <= OVER_MAX_AMOUNT
    for (key, nid), exact in t.over.items():
        assert exact > OVER_MAX_AMOUNT and t.infos[nid] is not None, key


def test_the_issues_pod_is_refused_by_bind_as_by_filter_and_scores_stay_sane():
    running = [pod("r", cpu="1", node_name="a")]  # int64 max + 1000 wraps negative
    svc = service(make_state([node("a", cpu="16"), node("b", cpu="16")], running))
    huge = pod("huge", cpu=BIG_CPU)
    out = svc.filter({"Pod": huge, "NodeNames": ["a", "b"]})
    assert out["NodeNames"] == []
    assert out["FailedAndUnresolvableNodes"] == {"a": "Insufficient cpu", "b": "Insufficient cpu"}
    before = svc.state.truth()
    answer = svc.bind({"PodUID": "uid-huge", "Node": "a"})
    assert answer["Error"] == "pod default/huge no longer fits on a: Insufficient cpu"
    assert svc.state.truth() == before
    columns_in_bounds(svc.state)
    # afterwards every ordinary pod still scores, and ten 10-CPU pods do not share one node
    placed = {"a": 0, "b": 0}
    for i in range(4):
        p = pod(f"p{i}", cpu="10", memory="1Gi")
        names, scores = svc.prioritize({"Pod": p, "NodeNames": ["a", "b"]})
        assert all(0 <= s <= 10 for s in scores.tolist())
        passed = svc.filter({"Pod": p, "NodeNames": ["a", "b"]})["NodeNames"]
        if passed:
            assert svc.bind({"PodUID": f"uid-p{i}", "Node": passed[0]}) == {"Error": ""}
            placed[passed[0]] += 1
    assert placed == {"a": 1, "b": 1}


def test_a_pods_request_counts_at_most_one_more_than_any_node_has():
    p = parse_pod(
        pod(
            "p",
            cpu=BIG_CPU,
            memory="8Ei",
            overhead={"cpu": "9223372036854775807"},
            initContainers=[{"name": "i", "resources": {"requests": {"example.com/x": "1e100"}}}],
        )
    )
    assert p.requests == {
        "cpu": OVER_MAX_AMOUNT,
        "memory": OVER_MAX_AMOUNT,
        "example.com/x": OVER_MAX_AMOUNT,
    }
    assert p.nonzero_cpu == p.nonzero_memory == OVER_MAX_AMOUNT
    state = make_state([node("a", cpu="1e30", memory="9223372036854775807", pods="1e20")])
    t, nid = state.table, state.table.id_of["a"]
    assert [int(t.alloc[t.resource_col[r]][nid]) for r in ("cpu", "memory", "pods")] == [
        MAX_AMOUNT
    ] * 3


def test_usage_beyond_the_bound_saturates_exactly_and_comes_back():
    """Pods the API server placed beyond any allocatable: the column says "more than
    any node has" and removing them restores the exact sum."""
    state = make_state([node("a", cpu="4")])
    for i in range(12):  # 12 x (10^18 + 1) millicores would wrap int64
        state.apply_pod(pod(f"h{i}", cpu=BIG_CPU, node_name="a"))
    state.apply_pod(pod("small", cpu="250m", node_name="a"))
    t, nid, cpu = state.table, state.table.id_of["a"], state.table.resource_col["cpu"]
    assert int(t.req[cpu][nid]) == OVER_MAX_AMOUNT
    assert t.exact_usage(cpu, nid) == 12 * OVER_MAX_AMOUNT + 250
    assert t.exact_usage(NONZERO_CPU, nid) == 12 * OVER_MAX_AMOUNT + 250
    columns_in_bounds(state)
    svc = service(state)
    out = svc.filter({"Pod": pod("p", cpu="1m"), "NodeNames": ["a"]})
    assert out["FailedNodes"] == {"a": "Insufficient cpu"}
    _, scores = svc.prioritize({"Pod": pod("p", cpu="1m"), "NodeNames": ["a"]})
    assert 0 <= int(scores[0]) <= 10
    # /preempt: evicting eleven of them still leaves more than the node has; all twelve do not
    victims = {"a": {"Pods": [{"UID": f"uid-h{i}"} for i in range(11)], "NumPDBViolations": 0}}
    args = {"Pod": pod("p", cpu="1"), "NodeNameToMetaVictims": victims}
    assert svc.preempt(args)["NodeNameToMetaVictims"] == {}
    victims["a"]["Pods"].append({"UID": "uid-h11"})
    assert list(svc.preempt(args)["NodeNameToMetaVictims"]) == ["a"]
    for i in range(12):
        state.remove_pod(f"uid-h{i}")
    assert int(t.req[cpu][nid]) == 250 and t.over == {}
    state.remove_node("a")
    assert t.over == {}


def test_refused_binds_and_filters_add_no_column():
    """Item 2: 5,000 refused binds of novel extended resources added a column each."""
    state = make_state([node("a", cpu="4")])
    svc = service(state)
    columns = list(state.table.resources)
    for i in range(50):
        p = pod(f"x{i}", cpu="1")
        p["spec"]["containers"][0]["resources"]["requests"][f"example.com/r{i}"] = "1"
        out = svc.filter({"Pod": p, "NodeNames": ["a"]})
        reason = f"Insufficient example.com/r{i}"
        assert out["FailedAndUnresolvableNodes"] == {"a": reason}
        svc.prioritize({"Pod": p, "NodeNames": ["a"]})
        svc.explain({"Pod": p, "NodeNames": ["a"]})
        answer = svc.bind({"PodUID": f"uid-x{i}", "Node": "a"})
        assert answer["Error"] == f"pod default/x{i} no longer fits on a: {reason}"
    assert state.table.resources == columns
    assert state.truth()["pods"] == {}


# ---- property: extreme quantities never split /filter from /bind ------------------

_EXTREME = st.one_of(
    st.sampled_from(
        [
            "0",
            "1m",
            "1",
            "16",
            BIG_CPU,
            "9223372036854775807",
            "9223372036854775808",
            "999999999999999999",
            "1000000000000000000",
            "1000000000000000001",
            "1E",
            "8Ei",
            "1e18",
            "1e100",
            "0.001",
            "1n",
        ]
    ),
    st.integers(0, 2**70).map(str),
    st.tuples(st.integers(0, 2**63), st.sampled_from(["m", "k", "M", "Gi", "Ei", "E", ""])).map(
        lambda t: f"{t[0]}{t[1]}"
    ),
)
_RESOURCES = st.sampled_from(["cpu", "memory", "ephemeral-storage", "example.com/gpu"])


def _requests():
    return st.dictionaries(_RESOURCES, _EXTREME, max_size=3)


@st.composite
def _extreme_pod(draw, name: str, node_name: str | None = None) -> dict:
    containers = [
        {"name": f"c{i}", "resources": {"requests": r}}
        for i, r in enumerate(draw(st.lists(_requests(), min_size=1, max_size=3)))
    ]
    spec: dict = {"containers": containers}
    if draw(st.booleans()):
        spec["initContainers"] = [
            {
                "name": f"i{i}",
                "resources": {"requests": r},
                **({"restartPolicy": "Always"} if draw(st.booleans()) else {}),
            }
            for i, r in enumerate(draw(st.lists(_requests(), max_size=2)))
        ]
    if draw(st.booleans()):
        spec["overhead"] = draw(_requests())
    if draw(st.booleans()):
        spec["resources"] = {
            "requests": {k: v for k, v in draw(_requests()).items() if k in ("cpu", "memory")}
        }
    if node_name:
        spec["nodeName"] = node_name
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


@st.composite
def _cluster(draw):
    nodes = []
    for i in range(draw(st.integers(1, 3))):
        n = node(f"n{i}", cpu=draw(_EXTREME), memory=draw(_EXTREME), pods="110")
        gpu = draw(st.one_of(st.none(), _EXTREME))
        if gpu is not None:
            n["status"]["allocatable"]["example.com/gpu"] = gpu
        nodes.append(n)
    placed = [
        draw(_extreme_pod(f"on{i}", f"n{draw(st.integers(0, len(nodes) - 1))}"))
        for i in range(draw(st.integers(0, 6)))
    ]
    return nodes, placed, draw(_extreme_pod("new"))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # seeded: the same 150 clusters every run
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_cluster())
def test_extreme_quantities_never_split_filter_and_bind(cluster):
    nodes, placed, new = cluster
    state = ClusterState()
    state.replace_all(nodes, placed)
    columns_in_bounds(state)
    svc = service(state)
    names = [n["metadata"]["name"] for n in nodes]
    args = {"Pod": new, "NodeNames": names}
    passed = set(svc.filter(args)["NodeNames"])
    _, scores = svc.prioritize(args)
    assert all(0 <= s <= 10 for s in scores.tolist())
    for entry in svc.explain(args)["nodes"]:
        assert all(0 <= s <= 100 for s in entry["scores"].values()), entry
    before = state.truth()
    for name in names:
        try:
            state.assume("uid-new", name)
        except BindError as exc:
            assert name not in passed, exc
            assert state.truth() == before
            continue
        assert name in passed
        columns_in_bounds(state)
        state.forget("uid-new")
        assert state.truth() == before
    uids = [{"UID": p["metadata"]["uid"]} for p in placed]
    victims = {name: {"Pods": uids, "NumPDBViolations": 0} for name in names}
    svc.preempt({"Pod": new, "NodeNameToMetaVictims": victims})  # answers; never raises
    columns_in_bounds(state)


@pytest.mark.parametrize("cpu", [BIG_CPU, "9223372036854775807", "1e100"])
def test_bind_of_an_absurd_pod_on_an_absurd_node_matches_filter(cpu):
    """Both bounded: a node of 'int64 max' CPUs still cannot hold a pod above the bound."""
    svc = service(make_state([node("a", cpu="9223372036854775807", memory="8Ei")]))
    out = svc.filter({"Pod": pod("p", cpu=cpu), "NodeNames": ["a"]})
    assert out["NodeNames"] == []
    assert svc.bind({"PodUID": "uid-p", "Node": "a"})["Error"].endswith("Insufficient cpu")
    big = pod("q", cpu="999999999999999999m")  # one below the bound: fits, exactly
    assert svc.filter({"Pod": big, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    assert svc.bind({"PodUID": "uid-q", "Node": "a"}) == {"Error": ""}
    assert svc.filter({"Pod": pod("r", cpu="1m"), "NodeNames": ["a"]})["NodeNames"] == ["a"]
    assert svc.filter({"Pod": pod("s", cpu="2m"), "NodeNames": ["a"]})["NodeNames"] == []
    columns_in_bounds(svc.state)
    assert np.all(svc.state.table.req[0] <= MAX_AMOUNT)


@pytest.mark.parametrize(
    "args",
    [{"ignoredResources": ["example.com/foo"]}, {"ignoredResourceGroups": ["example.com"]}],
)
def test_bind_leaves_unchecked_what_the_fit_filter_ignores(args):
    """ignoredResources: the filter passes the node, so /bind must not refuse it."""
    config = parse_configuration(
        {"filters": [{"name": "NodeResourcesFit", "args": args}], "scores": []}
    )
    svc = Service(make_state([node("a", cpu="4")]), Engine(config))
    p = pod("p", cpu="1")
    p["spec"]["containers"][0]["resources"]["requests"]["example.com/foo"] = "3"
    assert svc.filter({"Pod": p, "NodeNames": ["a"]})["NodeNames"] == ["a"]
    assert svc.bind({"PodUID": "uid-p", "Node": "a"}) == {"Error": ""}
    big = pod("q", cpu="5")  # what the filter does check, bind still refuses
    assert svc.filter({"Pod": big, "NodeNames": ["a"]})["NodeNames"] == []
    assert svc.bind({"PodUID": "uid-q", "Node": "a"})["Error"].endswith("Insufficient cpu")


def test_image_sizes_beyond_int64_neither_fail_nor_wrap_image_locality():
    images = [{"names": [f"repo/img{i}:1"], "sizeBytes": 2**64 + i} for i in range(12)]
    svc = service(make_state([node("a", images=images), node("b")]))
    p = pod("p", cpu="1")
    p["spec"]["containers"] = [
        {"name": f"c{i}", "image": f"repo/img{i}:1", "resources": {}} for i in range(12)
    ]
    entries = {e["name"]: e for e in svc.explain({"Pod": p, "NodeNames": ["a", "b"]})["nodes"]}
    # every image on one node of two: half of a (saturated) size each, far above the top
    assert entries["a"]["scores"]["ImageLocality"] == 100
    assert entries["b"]["scores"]["ImageLocality"] == 0
