"""NodeResourcesFit: case tables transcribed from upstream noderesources tests.

Filter: fit_test.go TestEnoughRequests / TestNotEnoughRequests / TestStorageRequests
(node allocatable cpu 10m, memory 20, pods 32, example.com/aaa 5, ephemeral-storage
20, hugepages-2Mi 5; one existing pod), plus sidecar cases worked out from the
component-helpers PodRequests rules. Score: TestFitScore, least_allocated_test.go,
most_allocated_test.go, requested_to_capacity_ratio_test.go (incl. the bin-packing
extended-resource tables and TestBrokenLinearFunction). Args: validation_pluginargs.go
rules with v1 defaulting.
"""

from __future__ import annotations

import numpy as np
import pytest

from extender.model.errors import ConfigError
from policies.node_resources import fit as fit_module
from policies.node_resources.fit import NodeResourcesFit, broken_linear_table
from tests.helpers import make_pod, make_view

EXT_A, EXT_B = "example.com/aaa", "example.com/bbb"
K8S_A, K8S_B = "kubernetes.io/something", "subdomain.kubernetes.io/something"
HUGE_A = "hugepages-2Mi"
XYZ = "abc.com/xyz"  # upstream's extendedRes in the scoring tables


# ---------------------------------------------------------------------------
# Object builders (plain v1 dicts, parsed by the real cache)


def ctr(requests: dict | None = None, restart: str | None = None) -> dict:
    c = {"name": "c", "image": "busybox", "resources": {"requests": dict(requests or {})}}
    if restart:
        c["restartPolicy"] = restart
    return c


def pod_obj(name="p", containers=(), init=(), overhead=None, node=None) -> dict:
    spec: dict = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if overhead:
        spec["overhead"] = overhead
    if node:
        spec["nodeName"] = node
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def node_obj(name: str, alloc: dict) -> dict:
    alloc = {k: str(v) for k, v in alloc.items()}
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {},
        "status": {"allocatable": alloc, "capacity": alloc},
    }


def R(cpu_m: int = 0, mem: int = 0, **extra) -> dict:
    """Requests as upstream's framework.Resource: cpu in millicores, the rest in units."""
    out = {"cpu": f"{cpu_m}m", "memory": str(mem)}
    out.update({k: str(v) for k, v in extra.items()})
    return out


def X(cpu_m: int = 0, mem: int = 0, scalars: dict | None = None) -> dict:
    out = R(cpu_m, mem)
    out.update({k: str(v) for k, v in (scalars or {}).items()})
    return out


# ---------------------------------------------------------------------------
# Filter

FIT_NODE = {
    "cpu": "10m",
    "memory": 20,
    "pods": 32,
    EXT_A: 5,
    "ephemeral-storage": 20,
    HUGE_A: 5,
}

# (name, pod containers, pod init containers, overhead, existing pod requests, args, reason)
ENOUGH_REQUESTS = [
    ("no resources requested always fits", [], [], None, R(10, 20), {}, ""),
    (
        "too many resources fails",
        [ctr(R(1, 1))],
        [],
        None,
        R(10, 20),
        {},
        "Insufficient cpu, Insufficient memory",
    ),
    (
        "too many resources fails due to init container cpu",
        [ctr(R(1, 1))],
        [ctr(R(3, 1))],
        None,
        R(8, 19),
        {},
        "Insufficient cpu",
    ),
    (
        "too many resources fails due to highest init container cpu",
        [ctr(R(1, 1))],
        [ctr(R(3, 1)), ctr(R(2, 1))],
        None,
        R(8, 19),
        {},
        "Insufficient cpu",
    ),
    (
        "too many resources fails due to init container memory",
        [ctr(R(1, 1))],
        [ctr(R(1, 3))],
        None,
        R(9, 19),
        {},
        "Insufficient memory",
    ),
    (
        "too many resources fails due to highest init container memory",
        [ctr(R(1, 1))],
        [ctr(R(1, 3)), ctr(R(1, 2))],
        None,
        R(9, 19),
        {},
        "Insufficient memory",
    ),
    (
        "init container fits because it's the max, not sum, of containers and init containers",
        [ctr(R(1, 1))],
        [ctr(R(1, 1))],
        None,
        R(9, 19),
        {},
        "",
    ),
    (
        "multiple init containers fit because it's the max, not sum",
        [ctr(R(1, 1))],
        [ctr(R(1, 1)), ctr(R(1, 1))],
        None,
        R(9, 19),
        {},
        "",
    ),
    ("both resources fit", [ctr(R(1, 1))], [], None, R(5, 5), {}, ""),
    ("one resource memory fits", [ctr(R(2, 1))], [], None, R(9, 5), {}, "Insufficient cpu"),
    ("one resource cpu fits", [ctr(R(1, 2))], [], None, R(5, 19), {}, "Insufficient memory"),
    ("equal edge case", [ctr(R(5, 1))], [], None, R(5, 19), {}, ""),
    ("equal edge case for init container", [ctr(R(4, 1))], [ctr(R(5, 1))], None, R(5, 19), {}, ""),
    ("extended resource fits", [ctr(X(0, 0, {EXT_A: 1}))], [], None, R(), {}, ""),
    (
        "extended resource fits for init container",
        [ctr(R())],
        [ctr(X(0, 0, {EXT_A: 1}))],
        None,
        R(),
        {},
        "",
    ),
    (
        "extended resource capacity enforced",
        [ctr(X(1, 1, {EXT_A: 10}))],
        [],
        None,
        X(0, 0, {EXT_A: 0}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource capacity enforced for init container",
        [ctr(R())],
        [ctr(X(1, 1, {EXT_A: 10}))],
        None,
        X(0, 0, {EXT_A: 0}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource allocatable enforced",
        [ctr(X(1, 1, {EXT_A: 1}))],
        [],
        None,
        X(0, 0, {EXT_A: 5}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource allocatable enforced for init container",
        [ctr(R())],
        [ctr(X(1, 1, {EXT_A: 1}))],
        None,
        X(0, 0, {EXT_A: 5}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource allocatable enforced for multiple containers",
        [ctr(X(1, 1, {EXT_A: 3})), ctr(X(1, 1, {EXT_A: 3}))],
        [],
        None,
        X(0, 0, {EXT_A: 2}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource allocatable admits multiple init containers",
        [ctr(R())],
        [ctr(X(1, 1, {EXT_A: 3})), ctr(X(1, 1, {EXT_A: 3}))],
        None,
        X(0, 0, {EXT_A: 2}),
        {},
        "",
    ),
    (
        "extended resource allocatable enforced for multiple init containers",
        [ctr(R())],
        [ctr(X(1, 1, {EXT_A: 6})), ctr(X(1, 1, {EXT_A: 3}))],
        None,
        X(0, 0, {EXT_A: 2}),
        {},
        f"Insufficient {EXT_A}",
    ),
    (
        "extended resource allocatable enforced for unknown resource",
        [ctr(X(1, 1, {EXT_B: 1}))],
        [],
        None,
        R(),
        {},
        f"Insufficient {EXT_B}",
    ),
    (
        "extended resource allocatable enforced for unknown resource for init container",
        [ctr(R())],
        [ctr(X(1, 1, {EXT_B: 1}))],
        None,
        R(),
        {},
        f"Insufficient {EXT_B}",
    ),
    (
        "kubernetes.io resource capacity enforced",
        [ctr(X(1, 1, {K8S_A: 10}))],
        [],
        None,
        R(),
        {},
        f"Insufficient {K8S_A}",
    ),
    (
        "kubernetes.io resource capacity enforced for init container",
        [ctr(R())],
        [ctr(X(1, 1, {K8S_B: 10}))],
        None,
        R(),
        {},
        f"Insufficient {K8S_B}",
    ),
    (
        "hugepages resource capacity enforced",
        [ctr(X(1, 1, {HUGE_A: 10}))],
        [],
        None,
        X(0, 0, {HUGE_A: 0}),
        {},
        f"Insufficient {HUGE_A}",
    ),
    (
        "hugepages resource capacity enforced for init container",
        [ctr(R())],
        [ctr(X(1, 1, {HUGE_A: 10}))],
        None,
        X(0, 0, {HUGE_A: 0}),
        {},
        f"Insufficient {HUGE_A}",
    ),
    (
        "hugepages resource allocatable enforced for multiple containers",
        [ctr(X(1, 1, {HUGE_A: 3})), ctr(X(1, 1, {HUGE_A: 3}))],
        [],
        None,
        X(0, 0, {HUGE_A: 2}),
        {},
        f"Insufficient {HUGE_A}",
    ),
    (
        "skip checking ignored extended resource",
        [ctr(X(1, 1, {EXT_B: 1}))],
        [],
        None,
        R(),
        {"ignoredResources": [EXT_B]},
        "",
    ),
    (
        "resources + pod overhead fits",
        [ctr(R(1, 1))],
        [],
        {"cpu": "3m", "memory": "13"},
        R(5, 5),
        {},
        "",
    ),
    (
        "requests + overhead does not fit for memory",
        [ctr(R(1, 1))],
        [],
        {"cpu": "1m", "memory": "15"},
        R(5, 5),
        {},
        "Insufficient memory",
    ),
    (
        "skip checking ignored extended resource via resource groups",
        [ctr(X(1, 1, {EXT_B: 1, K8S_A: 1}))],
        [],
        None,
        R(),
        {"ignoredResourceGroups": ["example.com"]},
        f"Insufficient {K8S_A}",
    ),
    (
        "skip checking extended resource request with quantity zero",
        [ctr(X(1, 1, {EXT_A: 0}))],
        [],
        None,
        X(0, 0, {EXT_A: 6}),
        {},
        "",
    ),
    (
        "skip checking resource request with quantity zero",
        [ctr(X(0, 0, {EXT_A: 1}))],
        [],
        None,
        X(20, 30, {EXT_A: 1}),
        {},
        "",
    ),
    # ignoredResources only ever skip extended resources (upstream IsExtendedResourceName)
    (
        "ignoring a hugepages or kubernetes.io name has no effect",
        [ctr(X(1, 1, {HUGE_A: 10, K8S_A: 1}))],
        [],
        None,
        R(),
        {"ignoredResources": [HUGE_A, K8S_A], "ignoredResourceGroups": ["kubernetes.io"]},
        f"Insufficient {HUGE_A}, Insufficient {K8S_A}",
    ),
    # sidecars (restartable init containers), component-helpers PodRequests rules:
    # containers + sidecars add up; a regular init container needs itself plus the
    # sidecars started before it; the pod needs the larger of the two.
    (
        "sidecar adds to the containers",
        [ctr(R(4, 1))],
        [ctr(R(3, 1), "Always")],
        None,
        R(4, 1),
        {},
        "Insufficient cpu",
    ),
    (
        "sidecar and containers fit exactly",
        [ctr(R(4, 1))],
        [ctr(R(3, 1), "Always")],
        None,
        R(3, 1),
        {},
        "",
    ),
    (
        "regular init container after a sidecar needs both",
        [ctr(R(1, 1))],
        [ctr(R(1, 1), "Always"), ctr(R(8, 1))],
        None,
        R(2, 1),
        {},
        "Insufficient cpu",
    ),
    (
        "regular init container before a sidecar runs alone",
        [ctr(R(1, 1))],
        [ctr(R(8, 1)), ctr(R(1, 1), "Always")],
        None,
        R(2, 1),
        {},
        "",
    ),
]


# The cases above whose node is too small for the pod even when empty: a request
# larger than the node's whole allocatable (0 for a resource it lacks) makes
# kube-scheduler 1.34 answer UnschedulableAndUnresolvable (InsufficientResource's
# Unresolvable, kubernetes PR #131345); every other failure stays Unschedulable.
TOO_BIG_FOR_THE_NODE = {
    "extended resource capacity enforced",
    "extended resource capacity enforced for init container",
    "extended resource allocatable enforced for multiple containers",
    "extended resource allocatable enforced for multiple init containers",
    "extended resource allocatable enforced for unknown resource",
    "extended resource allocatable enforced for unknown resource for init container",
    "kubernetes.io resource capacity enforced",
    "kubernetes.io resource capacity enforced for init container",
    "hugepages resource capacity enforced",
    "hugepages resource capacity enforced for init container",
    "hugepages resource allocatable enforced for multiple containers",
    "skip checking ignored extended resource via resource groups",
    "ignoring a hugepages or kubernetes.io name has no effect",
}
assert TOO_BIG_FOR_THE_NODE <= {case[0] for case in ENOUGH_REQUESTS}


def _fit_view(existing: dict, alloc: dict = FIT_NODE):
    existing_pod = pod_obj("existing", [ctr(existing)], node="n1")
    return make_view([node_obj("n1", alloc)], [existing_pod])


@pytest.mark.parametrize(
    "containers, init, overhead, existing, args, reason",
    [case[1:] for case in ENOUGH_REQUESTS],
    ids=[case[0] for case in ENOUGH_REQUESTS],
)
def test_enough_requests(containers, init, overhead, existing, args, reason):
    view = _fit_view(existing)
    pod = make_pod(pod_obj("incoming", containers, init, overhead))
    policy = NodeResourcesFit(args)
    passed = policy.filter(pod, view)
    assert passed.dtype == bool
    assert passed.tolist() == [reason == ""]
    if reason:
        assert policy.reasons(pod, view, np.array([0])) == [reason]
    assert policy.unresolvable is False


@pytest.mark.parametrize(
    "name, containers, init, overhead, existing, args",
    [(case[0], *case[1:6]) for case in ENOUGH_REQUESTS if case[6]],
    ids=[case[0] for case in ENOUGH_REQUESTS if case[6]],
)
def test_too_big_for_the_node_is_unresolvable(name, containers, init, overhead, existing, args):
    view = _fit_view(existing)
    pod = make_pod(pod_obj("incoming", containers, init, overhead))
    policy = NodeResourcesFit(args)
    hopeless = policy.unresolvable_mask(pod, view, np.array([0]))
    assert hopeless.dtype == bool
    assert hopeless.tolist() == [name in TOO_BIG_FOR_THE_NODE]


def test_unresolvable_per_node_and_pods_never():
    nodes = [
        node_obj("small", {"cpu": "1", "memory": "8Gi", "pods": 10}),  # cpu too small
        node_obj("busy", {"cpu": "4", "memory": "8Gi", "pods": 10}),  # cpu taken
        node_obj("full", {"cpu": "4", "memory": "8Gi", "pods": 1}),  # pod count only
        node_obj("nopods", {"cpu": "4", "memory": "8Gi", "pods": 0}),  # pods 0: resolvable
        node_obj("nogpu", {"cpu": "4", "memory": "8Gi", "pods": 10}),  # lacks the gpu
        node_obj("exact", {"cpu": "2", "memory": "8Gi", "pods": 10, "example.com/gpu": 1}),
    ]
    existing = [
        pod_obj("e1", [ctr({"cpu": "3"})], node="busy"),
        pod_obj("e2", [ctr({"cpu": "1"})], node="full"),
        pod_obj("e3", [ctr({"cpu": "1"})], node="exact"),
    ]
    view = make_view(nodes, existing)
    policy = NodeResourcesFit({})
    pod = make_pod(pod_obj("p", [ctr({"cpu": "2"})]))
    failed = np.flatnonzero(~policy.filter(pod, view))
    assert [view.names[i] for i in failed] == ["small", "busy", "full", "nopods", "exact"]
    assert policy.unresolvable_mask(pod, view, failed).tolist() == [
        True,
        False,
        False,
        False,
        False,  # 2 cpu fit an empty "exact": evicting e3 would help
    ]
    gpu = make_pod(pod_obj("g", [ctr({"cpu": "2", "example.com/gpu": "1"})]))
    failed = np.flatnonzero(~policy.filter(gpu, view))
    assert [view.names[i] for i in failed] == ["small", "busy", "full", "nopods", "nogpu", "exact"]
    assert policy.unresolvable_mask(gpu, view, failed).tolist() == [
        True,
        True,  # no example.com/gpu at all
        True,
        True,
        True,
        False,
    ]
    ignoring = NodeResourcesFit({"ignoredResourceGroups": ["example.com"]})
    failed = np.flatnonzero(~ignoring.filter(gpu, view))
    assert ignoring.unresolvable_mask(gpu, view, failed).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]


NOT_ENOUGH_PODS = [
    ("even without specified resources", [], [], R(10, 20)),
    ("even if both resources fit", [ctr(R(1, 1))], [], R(5, 5)),
    ("even for equal edge case", [ctr(R(5, 1))], [], R(5, 19)),
    ("even for equal edge case due to init container", [ctr(R(5, 1))], [ctr(R(5, 1))], R(5, 19)),
]


@pytest.mark.parametrize(
    "containers, init, existing",
    [c[1:] for c in NOT_ENOUGH_PODS],
    ids=[c[0] for c in NOT_ENOUGH_PODS],
)
def test_not_enough_pods(containers, init, existing):
    view = _fit_view(existing, {"cpu": "10m", "memory": 20, "pods": 1})
    pod = make_pod(pod_obj("incoming", containers, init))
    policy = NodeResourcesFit({})
    assert policy.filter(pod, view).tolist() == [False]
    assert policy.reasons(pod, view, np.array([0])) == ["Too many pods"]


def test_too_many_pods_comes_first_and_all_reasons_are_kept():
    view = _fit_view(R(10, 20), {"cpu": "10m", "memory": 20, "pods": 1})
    pod = make_pod(pod_obj("incoming", [ctr(R(1, 1))]))
    policy = NodeResourcesFit({})
    assert policy.reasons(pod, view, np.array([0])) == [
        "Too many pods, Insufficient cpu, Insufficient memory"
    ]


STORAGE = [
    ("empty storage requested, and pod fits", R(1, 1), R(2, 10), ""),
    (
        "storage ephemeral local storage request exceeds allocatable",
        {"ephemeral-storage": "25"},
        R(2, 2),
        "Insufficient ephemeral-storage",
    ),
    (
        "ephemeral local storage is sufficient",
        {"ephemeral-storage": "5"},
        {**R(2, 2), "ephemeral-storage": "10"},
        "",
    ),
    ("pod fits", {"ephemeral-storage": "10"}, R(2, 2), ""),
]


@pytest.mark.parametrize(
    "requests, existing, reason", [c[1:] for c in STORAGE], ids=[c[0] for c in STORAGE]
)
def test_storage_requests(requests, existing, reason):
    view = _fit_view(existing)
    pod = make_pod(pod_obj("incoming", [ctr(requests)]))
    policy = NodeResourcesFit({})
    assert policy.filter(pod, view).tolist() == [reason == ""]
    if reason:
        assert policy.reasons(pod, view, np.array([0])) == [reason]


def test_filter_is_per_node_and_reasons_only_for_failed_positions():
    nodes = [
        node_obj("small", {"cpu": "1", "memory": "1Gi", "pods": 10}),
        node_obj("big", {"cpu": "8", "memory": "16Gi", "pods": 10}),
        node_obj("full", {"cpu": "8", "memory": "16Gi", "pods": 1}),
        node_obj("nogpu", {"cpu": "8", "memory": "16Gi", "pods": 10}),
    ]
    existing = [pod_obj("e", [ctr({"cpu": "1"})], node="full")]
    view = make_view(nodes, existing)
    pod = make_pod(pod_obj("p", [ctr({"cpu": "2", "memory": "2Gi"})]))
    policy = NodeResourcesFit({})
    ok = policy.filter(pod, view)
    assert ok.tolist() == [False, True, False, True]
    failed = np.flatnonzero(~ok)
    assert policy.reasons(pod, view, failed) == [
        "Insufficient cpu, Insufficient memory",
        "Too many pods",
    ]
    gpu_pod = make_pod(pod_obj("g", [ctr({"nvidia.com/gpu": "1"})]))
    assert policy.filter(gpu_pod, view).tolist() == [False, False, False, False]
    assert policy.reasons(gpu_pod, view, np.array([3])) == ["Insufficient nvidia.com/gpu"]


# ---------------------------------------------------------------------------
# Score


def snode(name: str, cpu: str, memory: str, extra: dict | None = None) -> dict:
    """st.MakeNode().Capacity(...): only the listed resources (plus pods for the cache)."""
    return node_obj(name, {"cpu": cpu, "memory": memory, "pods": 110, **(extra or {})})


def spod(*requests: dict, node: str | None = None, name: str = "p") -> dict:
    """st.MakePod().Req(...)...: one container per Req."""
    return pod_obj(name, [ctr(r) for r in requests], node=node)


def _scores(args, incoming, nodes, existing=()):
    view = make_view(nodes, list(existing))
    return NodeResourcesFit(args).score(make_pod(incoming), view).tolist()


def _strategy(kind, resources=None, shape=None):
    strategy = {"type": kind}
    if resources is not None:
        strategy["resources"] = resources
    if shape is not None:
        strategy["requestedToCapacityRatio"] = {"shape": shape}
    return {"scoringStrategy": strategy}


DEFAULT = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
EXTENDED_SET = DEFAULT + [{"name": XYZ, "weight": 1}]
N4_10 = [snode("node1", "4000", "10000"), snode("node2", "4000", "10000")]
N4_6 = [snode("node1", "4000", "10000"), snode("node2", "6000", "10000")]
N10_10 = [snode("node1", "10000", "20000"), snode("node2", "10000", "20000")]
N10_50 = [snode("node1", "10000", "20000"), snode("node2", "10000", "50000")]
N_EXT = [snode("node1", "6000", "10000"), snode("node2", "6000", "10000", {XYZ: 4})]
N_EXT_BOTH = [snode("node1", "6000", "10000", {XYZ: 4}), snode("node2", "6000", "10000", {XYZ: 10})]
TWO_CTRS = spod({"cpu": "1000", "memory": "2000"}, {"cpu": "2000", "memory": "3000"})
EMPTY = pod_obj("p")  # st.MakePod().Obj(): no containers at all
EX_CPU_ONLY = [
    spod({"cpu": "3000", "memory": "0"}, node="node1", name="a"),
    spod({"cpu": "3000", "memory": "0"}, node="node1", name="b"),
    spod({"cpu": "3000", "memory": "0"}, node="node2", name="c"),
    spod({"cpu": "3000", "memory": "5000"}, node="node2", name="d"),
]
EX_ONE_EACH = [
    spod({"cpu": "3000", "memory": "0"}, node="node1", name="a"),
    spod({"cpu": "3000", "memory": "5000"}, node="node2", name="b"),
]
EX_EMPTY = [pod_obj(f"e{i}", node=n) for i, n in enumerate(["node1", "node1", "node2", "node2"])]
NO_CAPACITY = [node_obj("node1", {"pods": 110}), node_obj("node2", {"pods": 110})]
WEIGHTED = [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}]
EXT_FIRST = [{"name": XYZ, "weight": 2}] + DEFAULT

LEAST_ALLOCATED = [
    ("nothing scheduled, nothing requested", EMPTY, N4_10, [], DEFAULT, [100, 100]),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        TWO_CTRS,
        N4_6,
        [],
        DEFAULT,
        [37, 50],
    ),
    ("no resources requested, pods scheduled", EMPTY, N4_10, EX_EMPTY, DEFAULT, [100, 100]),
    (
        "no resources requested, pods scheduled with resources",
        EMPTY,
        N10_10,
        EX_CPU_ONLY,
        DEFAULT,
        [70, 57],
    ),
    (
        "resources requested, pods scheduled with resources",
        TWO_CTRS,
        N10_10,
        EX_ONE_EACH,
        DEFAULT,
        [57, 45],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        TWO_CTRS,
        N10_50,
        EX_ONE_EACH,
        DEFAULT,
        [57, 60],
    ),
    (
        "requested resources exceed node capacity",
        spod({"cpu": "3000", "memory": "0"}),
        N4_10,
        EX_ONE_EACH,
        DEFAULT,
        [50, 25],
    ),
    (
        "zero node resources, pods scheduled with resources",
        EMPTY,
        NO_CAPACITY,
        EX_ONE_EACH,
        DEFAULT,
        [0, 0],
    ),
    (
        "different weight on CPU and memory, differently sized nodes",
        TWO_CTRS,
        N4_6,
        [],
        WEIGHTED,
        [41, 50],
    ),
    (
        "bypass extended resource if the pod does not request",
        TWO_CTRS,
        N_EXT,
        [],
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod requests",
        spod({"cpu": "3000", "memory": "5000", XYZ: "2"}),
        N_EXT_BOTH,
        [],
        EXTENDED_SET,
        [50, 60],
    ),
    (
        "if the node doesn't have a resource",
        spod({"cpu": "3000", "memory": "4000"}),
        N_EXT,
        [],
        EXT_FIRST,
        [55, 55],
    ),
]

MOST_ALLOCATED = [
    ("nothing scheduled, nothing requested", EMPTY, N4_10, [], DEFAULT, [0, 0]),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        TWO_CTRS,
        N4_6,
        [],
        DEFAULT,
        [62, 50],
    ),
    (
        "no resources requested, pods scheduled with resources",
        EMPTY,
        N10_10,
        EX_CPU_ONLY,
        DEFAULT,
        [30, 42],
    ),
    (
        "resources requested, pods scheduled with resources",
        TWO_CTRS,
        N10_10,
        EX_ONE_EACH,
        DEFAULT,
        [42, 55],
    ),
    (
        "resources requested equal node capacity",
        spod({"cpu": "2000", "memory": "4000"}, {"cpu": "3000", "memory": "5000"}),
        [snode("node1", "5000", "10000"), snode("node2", "10000", "9000")],
        [],
        DEFAULT,
        [95, 75],
    ),
    ("different weight on CPU and memory", TWO_CTRS, N4_6, [], WEIGHTED, [58, 50]),
    (
        "no resources requested, pods scheduled, nonzero request for resource",
        pod_obj("p", [ctr()]),
        [snode("node1", "250m", "1000Mi"), snode("node2", "250m", "1000Mi")],
        [pod_obj("a", [ctr()], node="node1"), pod_obj("b", [ctr()], node="node1")],
        DEFAULT,
        [80, 30],
    ),
    (
        "bypass extended resource if the pod does not request",
        TWO_CTRS,
        N_EXT,
        [],
        EXTENDED_SET,
        [50, 50],
    ),
    (
        "honor extended resource if the pod request",
        spod({"cpu": "3000", "memory": "5000", XYZ: "2"}),
        N_EXT_BOTH,
        [],
        EXTENDED_SET,
        [50, 40],
    ),
    (
        "if the node doesn't have a resource",
        spod({"cpu": "3000", "memory": "4000"}),
        N_EXT,
        [],
        EXT_FIRST,
        [45, 45],
    ),
]

LEAST_SHAPE = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]
MOST_SHAPE = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
EX_EMPTY_NODE1 = [pod_obj("a", node="node1"), pod_obj("b", node="node1")]
EX_FITSCORE = [
    spod({"cpu": "2000", "memory": "4000"}, node="node1", name="a"),
    spod({"cpu": "1000", "memory": "2000"}, node="node2", name="b"),
]
EX_HALF = [
    spod({"cpu": "3000", "memory": "5000"}, node="node1", name="a"),
    spod({"cpu": "3000", "memory": "5000"}, node="node2", name="b"),
]

REQUESTED_TO_CAPACITY = [
    ("nothing scheduled, nothing requested", EMPTY, N4_10, EX_EMPTY_NODE1, LEAST_SHAPE, [100, 100]),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        TWO_CTRS,
        N4_6,
        EX_EMPTY_NODE1,
        LEAST_SHAPE,
        [38, 50],
    ),
    (
        "no resources requested, pods scheduled with resources",
        EMPTY,
        N4_6,
        EX_HALF,
        LEAST_SHAPE,
        [38, 50],
    ),
    (
        "TestFitScore RequestedToCapacityRatio case1",
        spod({"cpu": "3000", "memory": "5000"}),
        N4_6,
        EX_FITSCORE,
        LEAST_SHAPE,
        [10, 32],
    ),
    (
        "TestFitScore RequestedToCapacityRatio case2",
        spod({"cpu": "3000", "memory": "5000"}),
        N4_6,
        EX_FITSCORE,
        MOST_SHAPE,
        [95, 68],
    ),
]


@pytest.mark.parametrize(
    "incoming, nodes, existing, resources, expected",
    [c[1:] for c in LEAST_ALLOCATED],
    ids=[c[0] for c in LEAST_ALLOCATED],
)
def test_least_allocated(incoming, nodes, existing, resources, expected):
    args = _strategy("LeastAllocated", resources)
    assert _scores(args, incoming, nodes, existing) == expected


@pytest.mark.parametrize(
    "incoming, nodes, existing, resources, expected",
    [c[1:] for c in MOST_ALLOCATED],
    ids=[c[0] for c in MOST_ALLOCATED],
)
def test_most_allocated(incoming, nodes, existing, resources, expected):
    args = _strategy("MostAllocated", resources)
    assert _scores(args, incoming, nodes, existing) == expected


@pytest.mark.parametrize(
    "incoming, nodes, existing, shape, expected",
    [c[1:] for c in REQUESTED_TO_CAPACITY],
    ids=[c[0] for c in REQUESTED_TO_CAPACITY],
)
def test_requested_to_capacity_ratio(incoming, nodes, existing, shape, expected):
    args = _strategy("RequestedToCapacityRatio", DEFAULT, shape)
    assert _scores(args, incoming, nodes, existing) == expected


@pytest.mark.parametrize(
    "kind, expected", [("MostAllocated", [67, 36]), ("LeastAllocated", [32, 63])]
)
def test_fit_score_strategies(kind, expected):
    incoming = spod({"cpu": "1000", "memory": "2000"})
    assert _scores(_strategy(kind, DEFAULT), incoming, N4_6, EX_FITSCORE) == expected


def test_default_args_are_least_allocated_on_cpu_and_memory():
    incoming = spod({"cpu": "1000", "memory": "2000"})
    assert _scores({}, incoming, N4_6, EX_FITSCORE) == [32, 63]
    assert _scores({"scoringStrategy": None}, incoming, N4_6, EX_FITSCORE) == [32, 63]


def _bin_node(name: str, extended: dict) -> dict:
    """upstream makeNode(name, 4000 millicores, 10000 MiB, extended)."""
    return snode(name, "4000m", str(10000 * 1024 * 1024), extended)


FOO, BAR = "intel.com/foo", "intel.com/bar"
BIN_SHAPE = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]
SINGLE_NODES = [_bin_node("node1", {FOO: 8}), _bin_node("node2", {FOO: 4})]
MULTI_NODES = [_bin_node("node1", {FOO: 8, BAR: 4}), _bin_node("node2", {FOO: 4, BAR: 8})]

BIN_PACKING = [
    (
        "single: nothing scheduled, nothing requested",
        [{"name": FOO, "weight": 1}],
        EMPTY,
        SINGLE_NODES,
        [],
        [0, 0],
    ),
    (
        "single: resources requested, pods scheduled with less resources",
        [{"name": FOO, "weight": 1}],
        spod({FOO: "2"}),
        SINGLE_NODES,
        [pod_obj("u")],
        [2, 5],
    ),
    (
        "single: resources requested, on node with existing pod running",
        [{"name": FOO, "weight": 1}],
        spod({FOO: "2"}),
        SINGLE_NODES,
        [spod({FOO: "2"}, node="node2", name="e")],
        [2, 10],
    ),
    (
        "single: resources requested, pods scheduled with more resources",
        [{"name": FOO, "weight": 1}],
        spod({FOO: "4"}),
        SINGLE_NODES,
        [pod_obj("u")],
        [5, 10],
    ),
    (
        "multiple: nothing scheduled, nothing requested",
        [{"name": FOO, "weight": 3}, {"name": BAR, "weight": 5}],
        EMPTY,
        MULTI_NODES,
        [],
        [0, 0],
    ),
    (
        "multiple: resources requested, pods scheduled with less resources",
        [{"name": FOO, "weight": 3}, {"name": BAR, "weight": 5}],
        spod({FOO: "2", BAR: "2"}),
        MULTI_NODES,
        [pod_obj("u")],
        [4, 3],
    ),
    (
        "multiple: resources requested, on node with existing pod running",
        [{"name": FOO, "weight": 3}, {"name": BAR, "weight": 5}],
        spod({FOO: "2", BAR: "2"}),
        MULTI_NODES,
        [spod({FOO: "4", BAR: "2"}, node="node2", name="e")],
        [4, 7],
    ),
    (
        "multiple: resources requested, pods scheduled with more resources",
        [{"name": FOO, "weight": 3}, {"name": BAR, "weight": 5}],
        spod({FOO: "4", BAR: "2"}),
        MULTI_NODES,
        [pod_obj("u")],
        [5, 5],
    ),
]


@pytest.mark.parametrize(
    "resources, incoming, nodes, existing, expected",
    [c[1:] for c in BIN_PACKING],
    ids=[c[0] for c in BIN_PACKING],
)
def test_resource_bin_packing_extended(resources, incoming, nodes, existing, expected):
    args = _strategy("RequestedToCapacityRatio", resources, BIN_SHAPE)
    assert _scores(args, incoming, nodes, existing) == expected


BROKEN_LINEAR = [
    ([(10, 1), (90, 9)], {0: 1, 9: 1, 10: 1, 15: 1, 19: 1, 20: 2, 89: 8, 90: 9, 99: 9, 100: 9}),
    ([(0, 2), (40, 10), (100, 0)], {0: 2, 20: 6, 30: 8, 40: 10, 70: 5, 100: 0}),
    ([(0, 2), (40, 2), (100, 2)], {0: 2, 20: 2, 30: 2, 40: 2, 70: 2, 100: 2}),
]


@pytest.mark.parametrize("points, expected", BROKEN_LINEAR)
def test_broken_linear_function(points, expected):
    table = broken_linear_table(points)
    assert {p: int(table[p]) for p in expected} == expected


def test_broken_linear_truncates_toward_zero_on_decreasing_segments():
    # Go: 10 + (0-10)*(1-0)/(3-0) = 10 + (-10/3) = 10 - 3 = 7 (floor division would give 6)
    assert int(broken_linear_table([(0, 10), (3, 0)])[1]) == 7


def test_pods_and_unknown_native_names_are_not_scored():
    # upstream calculateResourceAllocatableRequest returns (0, 0) for "pods"/"storage"
    args = _strategy("MostAllocated", [{"name": "pods", "weight": 1}, {"name": "storage"}])
    incoming = spod({"cpu": "1000", "memory": "2000"})
    assert _scores(args, incoming, N4_6, EX_FITSCORE) == [0, 0]


def test_empty_view_scores_and_filters_nothing():
    state_nodes = [snode("node1", "1", "1Gi")]
    view = make_view(state_nodes, names=[])
    pod = make_pod(spod({"cpu": "1"}))
    for kind in ("LeastAllocated", "MostAllocated"):
        assert NodeResourcesFit(_strategy(kind)).score(pod, view).shape == (0,)
    assert NodeResourcesFit({}).filter(pod, view).shape == (0,)


# ---------------------------------------------------------------------------
# Args: v1 defaulting, validation_pluginargs.go rules


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {
                "scoringStrategy": {
                    "type": "LeastAllocated",
                    "resources": [{"name": "memory", "weight": -1}, {"name": "cpu", "weight": 1}],
                }
            },
            "scoringStrategy.resources[0].weight: Invalid value: -1: resource weight of memory "
            "not in valid range (0, 100]",
        ),
        (
            {
                "scoringStrategy": {
                    "type": "MostAllocated",
                    "resources": [{"name": "memory", "weight": 1}, {"name": "cpu", "weight": 101}],
                }
            },
            "scoringStrategy.resources[1].weight: Invalid value: 101",
        ),
        (
            {"scoringStrategy": {"type": "Balanced"}},
            "scoringStrategy.type: Unsupported value: 'Balanced'",
        ),
        ({"scoringStrategy": {"resources": DEFAULT}}, "scoringStrategy.type: Unsupported value"),
        (
            {"scoringStrategy": {"type": "RequestedToCapacityRatio"}},
            "scoringStrategy.requestedToCapacityRatio: Required value",
        ),
        (
            {
                "scoringStrategy": {
                    "type": "LeastAllocated",
                    "requestedToCapacityRatio": {"shape": LEAST_SHAPE},
                }
            },
            "scoringStrategy.requestedToCapacityRatio: Forbidden: must be nil",
        ),
        (
            _strategy("RequestedToCapacityRatio", shape=[]),
            "shape: Required value: at least one point must be specified",
        ),
        (
            _strategy(
                "RequestedToCapacityRatio",
                shape=[{"utilization": 50, "score": 1}, {"utilization": 50, "score": 2}],
            ),
            "shape[1].utilization: Invalid value: 50: values must be sorted in increasing order",
        ),
        (
            _strategy("RequestedToCapacityRatio", shape=[{"utilization": 101, "score": 1}]),
            "shape[0].utilization: Invalid value: 101: not in valid range [0, 100]",
        ),
        (
            _strategy("RequestedToCapacityRatio", shape=[{"utilization": 0, "score": 11}]),
            "shape[0].score: Invalid value: 11: not in valid range [0, 10]",
        ),
        ({"ignoredResources": ["example.com/-bad-"]}, "ignoredResources[0]: Invalid value"),
        (
            {"ignoredResourceGroups": ["example.com/aaa"]},
            "ignoredResourceGroups[0]: Invalid value: 'example.com/aaa': resource group name "
            "can't contain '/'",
        ),
        ({"ignoredResources": "example.com/aaa"}, "ignoredResources: must be a list"),
        (
            {
                "scoringStrategy": {
                    "type": "LeastAllocated",
                    "resources": [{"name": "cpu", "weight": "1"}],
                }
            },
            "scoringStrategy.resources[0].weight: must be an integer",
        ),
        ({"scoringstrategy": {}}, "scoringstrategy: unknown field"),
    ],
)
def test_invalid_args_are_config_errors(args, message):
    with pytest.raises(ConfigError) as err:
        NodeResourcesFit(args)
    assert message in str(err.value)
    assert str(err.value).startswith("NodeResourcesFit: invalid args: ")


def test_all_errors_are_reported_together():
    args = {"ignoredResourceGroups": ["a/b"], "scoringStrategy": {"type": "X"}}
    with pytest.raises(ConfigError) as err:
        NodeResourcesFit(args)
    assert "ignoredResourceGroups[0]" in str(err.value)
    assert "scoringStrategy.type" in str(err.value)


def test_v1_defaulting_of_weights_and_resources():
    # weight missing or 0 -> 1; empty resources -> cpu and memory (SetDefaults_NodeResourcesFitArgs)
    policy = NodeResourcesFit(
        {
            "scoringStrategy": {
                "type": "MostAllocated",
                "resources": [{"name": "cpu"}, {"name": "memory", "weight": 0}],
            }
        }
    )
    assert [(r.name, r.weight) for r in policy.resources] == [("cpu", 1), ("memory", 1)]
    policy = NodeResourcesFit({"scoringStrategy": {"type": "MostAllocated", "resources": []}})
    assert [(r.name, r.weight) for r in policy.resources] == [("cpu", 1), ("memory", 1)]
    assert policy.strategy == "MostAllocated"


def test_valid_ignored_names_are_accepted():
    policy = NodeResourcesFit(
        {"ignoredResources": ["example.com/aaa", "foo"], "ignoredResourceGroups": ["example.com"]}
    )
    assert policy.ignored_resources == {"example.com/aaa", "foo"}
    assert policy.ignored_groups == {"example.com"}


def test_full_node_objects_are_authoritative_for_allocatable():
    # nodeCacheCapable=false: the Node objects sent carry allocatable; usage stays cached
    from tests.helpers import make_state

    cached = node_obj("n1", {"cpu": "1", "memory": "1Gi", "pods": 10})
    sent = node_obj("n1", {"cpu": "8", "memory": "1Gi", "pods": 10, EXT_A: 2})
    state = make_state([cached], [pod_obj("e", [ctr({"cpu": "5"})], node="n1")])
    view, _, unknown = state.view_of_objects([sent])
    assert unknown == []
    policy = NodeResourcesFit({})
    fits = make_pod(pod_obj("p", [ctr({"cpu": "3", EXT_A: "2"})]))
    too_big = make_pod(pod_obj("q", [ctr({"cpu": "4", EXT_A: "3"})]))
    assert policy.filter(fits, view).tolist() == [True]
    assert policy.filter(too_big, view).tolist() == [False]
    assert policy.reasons(too_big, view, np.array([0])) == [
        f"Insufficient cpu, Insufficient {EXT_A}"
    ]
    # scores read the same allocatable: cpu (5 + 3) / 8 used -> LeastAllocated 0 for cpu
    scores = NodeResourcesFit(_strategy("LeastAllocated", [{"name": "cpu"}])).score(fits, view)
    assert scores.tolist() == [0]


# ---------------------------------------------------------------------------
# Reasons as shortfall codes (one numpy pass per resource) against the per-node text


from unittest import mock  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_RES = ("cpu", "memory", "ephemeral-storage", EXT_A, EXT_B)


def _reference_reasons(alloc: list[dict], used: list[dict], requests: dict) -> list[str]:
    """fitsRequest's reasons for every node, written out per node."""
    out = []
    for a, u in zip(alloc, used):
        parts = []
        if a.get("pods", 0) - u.get("pods", 0) < 1:
            parts.append("Too many pods")
        for r in ("cpu", "memory", "ephemeral-storage", EXT_A, EXT_B):
            amount = requests.get(r, 0)
            if amount > 0 and a.get(r, 0) - u.get(r, 0) < amount:
                parts.append(f"Insufficient {r}")
        out.append(", ".join(parts))
    return out


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(_RES), st.integers(0, 6), min_size=0),
            st.integers(0, 3),  # the node's pod slots
            st.dictionaries(st.sampled_from(_RES), st.integers(1, 4), max_size=3),  # one pod
        ),
        min_size=1,
        max_size=8,
    ),
    requests=st.dictionaries(st.sampled_from(_RES), st.integers(1, 5), min_size=1),
)
def test_reasons_codes_equal_the_per_node_texts(nodes, requests):
    node_objs, existing, alloc, used = [], [], [], []
    for i, (capacity, slots, placed) in enumerate(nodes):
        a = {r: v for r, v in capacity.items() if r != "cpu"}
        a["cpu"] = f"{capacity.get('cpu', 0)}m"
        node_objs.append(node_obj(f"n{i}", {**a, "pods": slots}))
        alloc.append({**capacity, "pods": slots})
        u = {"pods": 0}
        if slots:  # a placed pod needs a slot to be there at all
            existing.append(
                pod_obj(f"e{i}", [ctr({**_q(placed)})], node=f"n{i}")
            )
            u = {**placed, "pods": 1}
        used.append(u)
    view = make_view(node_objs, existing)
    pod = make_pod(pod_obj("p", [ctr(_q(requests))]))
    policy = NodeResourcesFit({})
    everything = np.arange(len(nodes))
    expected = _reference_reasons(alloc, used, requests)
    assert policy.reasons(pod, view, everything) == expected
    # the same texts from codes too wide for an intp (Python ints in object arrays)
    with mock.patch.object(fit_module, "_CODE_BITS", 0):
        assert NodeResourcesFit({}).reasons(pod, view, everything) == expected
    ok = policy.filter(pod, view)
    assert [text == "" for text in expected] == ok.tolist()
    # unresolvable: some request exceeds the node's whole allocatable (the kept
    # allocatable bounds only let it skip resources every node has enough of)
    hopeless = [any(a.get(r, 0) < amount for r, amount in requests.items()) for a in alloc]
    assert policy.unresolvable_mask(pod, view, everything).tolist() == hopeless


def _q(amounts: dict) -> dict:
    """Requests in the units the reference counts: cpu in millicores."""
    return {r: (f"{v}m" if r == "cpu" else str(v)) for r, v in amounts.items()}
