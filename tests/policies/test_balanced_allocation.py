"""NodeResourcesBalancedAllocation: cases from upstream balanced_allocation_test.go.

Nodes are upstream's makeNode(name, milliCPU, memory, scalars); pods are its
cpuOnly / cpuAndMemory / cpuAndMemoryAndGPU specs. The DRA-backed cases are out
of scope (podsift has no DRA). Args: ValidateNodeResourcesBalancedAllocationArgs.
"""

from __future__ import annotations

import pytest

from extender.model.errors import ConfigError
from policies.node_resources.balanced_allocation import (
    NodeResourcesBalancedAllocation,
    fraction_scale,
)
from tests.helpers import make_pod, make_view

GPU = "nvidia.com/gpu"
THREE = {
    "resources": [
        {"name": "cpu", "weight": 1},
        {"name": "memory", "weight": 1},
        {"name": GPU, "weight": 1},
    ]
}


def ctr(requests: dict) -> dict:
    return {"name": "c", "image": "busybox", "resources": {"requests": requests}}


def pod_obj(name: str, *requests: dict, node: str | None = None) -> dict:
    spec: dict = {"containers": [ctr(r) for r in requests]}
    if node:
        spec["nodeName"] = node
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def make_node(name: str, milli_cpu: int, memory: int, scalars: dict | None = None) -> dict:
    alloc = {"cpu": f"{milli_cpu}m", "memory": str(memory), "pods": "110"}
    alloc.update({k: str(v) for k, v in (scalars or {}).items()})
    return {"kind": "Node", "metadata": {"name": name}, "status": {"allocatable": alloc}}


CPU_ONLY = ({"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"})
CPU_AND_MEMORY = ({"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"})
CPU_MEMORY_GPU = ({"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000", GPU: "3"})
SCALAR = {GPU: 8}

CASES = [
    (
        "nothing scheduled, nothing requested: best effort, skipped (all 0)",
        pod_obj("p"),
        [make_node("node1", 4000, 10000), make_node("node2", 4000, 10000)],
        [],
        {},
        [0, 0],
    ),
    (
        "nothing scheduled, resources requested, differently sized nodes",
        pod_obj("p", *CPU_AND_MEMORY),
        [make_node("node1", 4000, 10000), make_node("node2", 6000, 10000)],
        [],
        {},
        [87, 100],
    ),
    (
        "resources requested, pods scheduled with resources",
        pod_obj("p", *CPU_AND_MEMORY),
        [make_node("node1", 10000, 20000), make_node("node2", 10000, 20000)],
        [pod_obj("a", *CPU_ONLY, node="node1"), pod_obj("b", *CPU_AND_MEMORY, node="node2")],
        {},
        [82, 95],
    ),
    (
        "resources requested, pods scheduled with resources, differently sized nodes",
        pod_obj("p", *CPU_AND_MEMORY),
        [make_node("node1", 10000, 20000), make_node("node2", 10000, 50000)],
        [pod_obj("a", *CPU_ONLY, node="node1"), pod_obj("b", *CPU_AND_MEMORY, node="node2")],
        {},
        [82, 80],
    ),
    (
        "requested resources at node capacity",
        pod_obj("p", *CPU_ONLY),
        [make_node("node1", 6000, 10000), make_node("node2", 6000, 10000)],
        [pod_obj("a", *CPU_ONLY, node="node1"), pod_obj("b", *CPU_AND_MEMORY, node="node2")],
        {},
        [50, 75],
    ),
    (
        "include scalar resource on a node for balanced resource allocation",
        pod_obj("p", {"memory": "0", GPU: "1"}),
        [make_node("node1", 3500, 40000, SCALAR), make_node("node2", 3500, 40000, SCALAR)],
        [pod_obj("a", *CPU_AND_MEMORY, node="node2"), pod_obj("b", *CPU_MEMORY_GPU, node="node1")],
        THREE,
        [70, 65],
    ),
    (
        "node without the scalar resource should skip the scalar resource",
        pod_obj("p", *CPU_AND_MEMORY),
        [make_node("node1", 3500, 40000, SCALAR), make_node("node2", 3500, 40000)],
        [],
        THREE,
        [63, 63],
    ),
]


@pytest.mark.parametrize(
    "incoming, nodes, existing, args, expected",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_balanced_allocation(incoming, nodes, existing, args, expected):
    view = make_view(nodes, existing)
    scores = NodeResourcesBalancedAllocation(args).score(make_pod(incoming), view)
    assert scores.dtype.kind == "i"
    assert scores.tolist() == expected


def test_uses_plain_requests_not_the_scoring_defaults():
    # useRequested: a container without requests adds nothing (LeastAllocated would add
    # 100m / 200Mi); with cpu 1 of 2 and memory 0 of 4Gi requested, std = 0.25 -> 75.
    nodes = [make_node("n1", 2000, 4 * 1024**3)]
    existing = [pod_obj("a", {"cpu": "1"}, {}, node="n1")]
    incoming = pod_obj("p", {"memory": "1"}, {})
    view = make_view(nodes, existing)
    scores = NodeResourcesBalancedAllocation({}).score(make_pod(incoming), view)
    assert scores.tolist() == [75]


def test_single_resource_or_no_capacity_scores_full():
    # one fraction (or none) has zero deviation: upstream's std stays 0 -> 100
    incoming = pod_obj("p", {"cpu": "1"})
    nodes = [
        make_node("n1", 4000, 0),
        {"kind": "Node", "metadata": {"name": "n2"}, "status": {"allocatable": {"pods": "10"}}},
    ]
    scores = NodeResourcesBalancedAllocation({}).score(make_pod(incoming), make_view(nodes))
    assert scores.tolist() == [100, 100]


def test_mixed_resource_counts_across_nodes():
    # node1 has the gpu (3 fractions), node2 does not (2 fractions)
    incoming = pod_obj("p", {"cpu": "1000m", "memory": "1000", GPU: "4"})
    nodes = [make_node("node1", 2000, 4000, SCALAR), make_node("node2", 2000, 4000)]
    scores = NodeResourcesBalancedAllocation(THREE).score(make_pod(incoming), make_view(nodes))
    # node1: f = .5, .25, .5 -> std = 0.11785 -> 88; node2: f = .5, .25 -> std .125 -> 87
    assert scores.tolist() == [88, 87]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {"resources": [{"name": "cpu", "weight": 1}, {"name": "cpu", "weight": 1}]},
            "resources[1].name: Duplicate value: 'cpu'",
        ),
        (
            {"resources": [{"name": "cpu", "weight": 2}]},
            "resources[0].weight: Invalid value: 2: must be 1",
        ),
        ({"resources": "cpu"}, "resources: must be a list"),
        ({"resources": [{"weight": 1}]}, "resources[0].name: Required value"),
        ({"resource": []}, "resource: unknown field"),
    ],
)
def test_invalid_args(args, message):
    with pytest.raises(ConfigError) as err:
        NodeResourcesBalancedAllocation(args)
    assert message in str(err.value)
    assert str(err.value).startswith("NodeResourcesBalancedAllocation: invalid args: ")


def test_defaults():
    policy = NodeResourcesBalancedAllocation({})
    assert [(r.name, r.weight) for r in policy.resources] == [("cpu", 1), ("memory", 1)]
    policy = NodeResourcesBalancedAllocation(
        {"resources": [{"name": GPU}, {"name": "cpu", "weight": 0}]}
    )
    assert [(r.name, r.weight) for r in policy.resources] == [(GPU, 1), ("cpu", 1)]


def test_fraction_scale_keeps_thresholds_inside_int64():
    for resources in (1, 2, 3, 10, 57, 58, 200, 5000):
        scale = fraction_scale(resources)
        assert scale & (scale - 1) == 0 and scale <= 1 << 24
        assert (50 * max(resources, 2) * scale) ** 2 <= 2**63 - 1
    assert fraction_scale(2) == 1 << 24
    assert fraction_scale(3) == 1 << 24


@pytest.mark.parametrize(
    "cpu, memory, expected",
    [
        # exact integer 100 * std with fractions that are inexact in binary: the
        # floored fixed-point value alone would give one less here
        ((27, 75), (2, 5), 98),
        ((7, 40), (3, 8), 90),
        ((29, 50), (1, 10), 76),
        ((4, 10), (18, 50), 98),
        ((35, 35), (2, 20), 55),
    ],
)
def test_exact_on_integer_boundaries(cpu, memory, expected):
    (cpu_used, cpu_alloc), (mem_used, mem_alloc) = cpu, memory
    nodes = [make_node("n1", cpu_alloc, mem_alloc)]
    existing = [pod_obj("a", {"cpu": f"{cpu_used - 1}m", "memory": str(mem_used - 1)}, node="n1")]
    incoming = pod_obj("p", {"cpu": "1m", "memory": "1"})
    scores = NodeResourcesBalancedAllocation({}).score(
        make_pod(incoming), make_view(nodes, existing)
    )
    assert scores.tolist() == [expected]


@pytest.mark.parametrize("unit", [2**45, 2**58])  # two-step division, then Python integers
def test_huge_capacities_stay_exact(unit):
    # cpu 1/2, memory 1/3: 100 * std = 100 / 12 = 8.33 -> 91
    nodes = [make_node("n1", 2000, 3 * unit)]
    incoming = pod_obj("p", {"cpu": "1", "memory": str(unit)})
    scores = NodeResourcesBalancedAllocation({}).score(make_pod(incoming), make_view(nodes))
    assert scores.tolist() == [91]
