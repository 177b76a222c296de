"""Pod records share what pods of one spec and label set have in common (issue 13).

A record is its identity, its node and two flags; its vector, scoring requests,
ports, labels and affinity are one `PodParts` shared by the records of a spec
and label set (`ClusterState._shared_parts`, found by identity, then by value).
The property test drives watch events, binds and node changes in any order and
holds every record's parts equal to the ones built afresh from its own pod: the
sharing is never seen in what a record says.
"""

from __future__ import annotations

import sys

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extender.cache import state as state_module
from extender.cache.podindex import PodParts, PodRecord
from extender.cache.state import ClusterState
from extender.model import pod as pod_module
from extender.model.errors import BindError
from extender.model.pod import PodInfo, parse_pod
from tests.helpers import node, pod

NODES = ["n0", "n1", "n2"]


def fresh(obj: dict) -> dict:
    """The object as a request decodes it: new strings, new dicts."""
    return orjson.loads(orjson.dumps(obj))


def expected_parts(state: ClusterState, info: PodInfo) -> tuple:
    """What a record of `info` holds, built without any sharing."""
    requests = tuple(sorted(info.requests.items()))
    col = state.table.resource_col
    vector = tuple((col[r], a) for r, a in requests if r != "pods")
    return (
        requests,
        vector,
        info.nonzero_cpu,
        info.nonzero_memory,
        info.host_ports,
        dict(info.labels),
        tuple(info.labels.items()),
        not info.terminating,
        info.pod_affinity,
    )


def record_parts(rec: PodRecord) -> tuple:
    p = rec.parts
    return (
        p.requests,
        p.vector,
        p.nonzero_cpu,
        p.nonzero_mem,
        p.ports,
        dict(p.labels),
        p.label_key,
        p.spreads,
        p.affinity,
    )


def a_pod(uid: str, spec: int, app: str, namespace: str, node_name: str | None) -> dict:
    """One of a few specs (cpu, a host port, a sidecar with memory), labels and namespaces."""
    obj = pod(
        uid, cpu=f"{100 * (spec % 3 + 1)}m", node_name=node_name, uid=uid, labels={"app": app}
    )
    obj["metadata"]["namespace"] = namespace
    if spec == 3:
        obj["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    if spec == 4:
        obj["spec"]["initContainers"] = [
            {
                "name": "side",
                "image": "envoy",
                "restartPolicy": "Always",
                "resources": {"requests": {"memory": "64Mi"}},
            }
        ]
    obj["status"] = {"phase": "Running"}
    return obj


step = st.one_of(
    st.tuples(
        st.just("watch"),
        st.integers(0, 11),  # uid
        st.integers(0, 4),  # spec
        st.sampled_from(["a", "b"]),
        st.sampled_from(["default", "shop"]),
        st.sampled_from([*NODES, "gone", None]),
        st.booleans(),  # terminating
    ),
    st.tuples(
        st.just("bind"),
        st.integers(0, 11),
        st.integers(0, 4),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["default", "shop"]),
        st.sampled_from(NODES),
    ),
    st.tuples(st.just("remove"), st.integers(0, 11)),
    st.tuples(st.just("node"), st.sampled_from(NODES), st.booleans()),
    st.tuples(st.just("clear")),  # the spec caches and the state's parts start afresh
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=40), st.integers(1, 6))
def test_every_record_holds_its_own_pods_parts(steps: list[tuple], kept: int) -> None:
    state = ClusterState()
    for name in NODES:
        state.apply_node(node(name, cpu="64", memory="64Gi"))
    pods: dict[str, PodInfo] = {}
    with_kept = state_module.PARTS_KEPT
    state_module.PARTS_KEPT = kept  # small: the parts are dropped and rebuilt often
    try:
        for s in steps:
            if s[0] == "watch":
                _, i, spec, app, ns, where, terminating = s
                obj = a_pod(f"u{i}", spec, app, ns, where)
                if terminating:
                    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
                obj = fresh(obj)
                state.apply_pod(obj)
                if where is not None:
                    pods[f"u{i}"] = parse_pod(obj)
            elif s[0] == "bind":
                _, i, spec, app, ns, where = s
                obj = fresh(a_pod(f"u{i}", spec, app, ns, None))
                state.remember(parse_pod(obj))
                try:
                    bound = state.bind(f"u{i}", where)
                except BindError:
                    continue
                if bound is not None:  # None: already bound there, the record kept
                    pods[f"u{i}"] = bound
            elif s[0] == "remove":
                state.remove_pod(f"u{s[1]}")
            elif s[0] == "node":
                if s[2]:
                    state.apply_node(node(s[1], cpu="64", memory="64Gi"))
                else:
                    state.remove_node(s[1])
            else:
                pod_module.clear_cache()
                state._parts_table = None
            for uid, rec in state.pods.items():
                assert record_parts(rec) == expected_parts(state, pods[uid]), uid
    finally:
        state_module.PARTS_KEPT = with_kept


def test_one_deployment_on_many_nodes_shares_one_parts() -> None:
    """Pods listed with a spec.nodeName parse to a requests dict per node
    (model/pod.py `_bound_copy`), yet their records share one PodParts."""
    nodes = [node(f"n{i}", cpu="64") for i in range(5)]
    pods = [fresh(a_pod(f"u{i}", 0, "web", "default", f"n{i % 5}")) for i in range(20)]
    state = ClusterState()
    state.replace_all(nodes, pods)
    parts = {id(rec.parts) for rec in state.pods.values()}
    assert len(parts) == 1
    one = state.pods["u0"]
    assert isinstance(one.parts, PodParts)
    assert one.vector == one.parts.vector and one.labels == {"app": "web"}


def test_a_record_keeps_the_tables_node_name_and_an_interned_namespace() -> None:
    state = ClusterState()
    state.apply_node(node("n0", cpu="64"))
    for uid in ("u1", "u2"):
        obj = fresh(a_pod(uid, 0, "web", "shop", None))
        state.remember(parse_pod(obj))
        state.bind(uid, "".join(["n", "0"]))  # a new string, as a request's
    a, b = state.pods["u1"], state.pods["u2"]
    assert a.node_name is state.table.names_arr[state.table.id_of["n0"]]
    assert a.namespace is b.namespace
    assert a.parts is b.parts


def test_a_record_is_small() -> None:
    """Seven slots and no instance dict: 88 bytes on a 64-bit CPython (152 before)."""
    rec = PodRecord("u", "default", "p", "n0", PodParts((), 0, 0, (), ()))
    assert not hasattr(rec, "__dict__")
    assert sys.getsizeof(rec) <= 16 + 16 + 7 * 8


def test_records_compare_by_value_as_before() -> None:
    """Two records of the same pod built apart are equal (the dataclass they were
    compared so); a different node or flag makes them differ."""
    parts = PodParts(((0, 100),), 100, 200, (), (("cpu", 100),))
    same = PodParts(((0, 100),), 100, 200, (), (("cpu", 100),))
    a = PodRecord("u", "default", "p", "n0", parts)
    assert a == PodRecord("u", "default", "p", "n0", same)
    assert a != PodRecord("u", "default", "p", "n1", same)
    assert a != PodRecord("u", "default", "p", "n0", same, assumed=True)
    assert a != PodRecord("u", "default", "p", "n0", PodParts(((0, 50),), 50, 200, (), ()))
