"""The per-resource columns kube-scheduler's resourceAllocationScorer scores.

Shared by NodeResourcesFit's scoring strategies and by
NodeResourcesBalancedAllocation (upstream: noderesources/resource_allocation.go).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from extender.api import NATIVE_RESOURCES, NodeView, PodInfo, is_scalar_resource


@dataclass(frozen=True)
class ResourceSpec:
    """One entry of a plugin's `resources` args: a resource name and its weight."""

    name: str
    weight: int


DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))


class Allocation(NamedTuple):
    """One scored resource over the candidates."""

    name: str
    weight: int
    allocatable: np.ndarray  # int64[n]
    used: np.ndarray  # int64[n]: the node's requests plus the pod's


def pod_request(pod: PodInfo, resource: str, use_requested: bool) -> int:
    """calculatePodResourceRequest: cpu/memory with the scoring defaults unless
    `use_requested`, everything else as requested."""
    if not use_requested:
        if resource == "cpu":
            return pod.nonzero_cpu
        if resource == "memory":
            return pod.nonzero_memory
    return pod.requests.get(resource, 0)


def allocation_columns(
    pod: PodInfo, nodes: NodeView, resources: Iterable[ResourceSpec], use_requested: bool
) -> list[Allocation]:
    """(name, weight, allocatable, requested incl. the pod) for each resource scored.

    Mirrors calculateResourceAllocatableRequest: a scalar resource the pod does
    not request is skipped, and so is any name that is neither cpu, memory,
    ephemeral-storage nor scalar ("pods", "storage", ...). The node's own
    cpu/memory usage is the non-zero one unless `use_requested`. Nodes whose
    allocatable is 0 keep 0 there; the scorers skip those per node.
    """
    columns = []
    for spec in resources:
        name = spec.name
        request = pod_request(pod, name, use_requested)
        if name in NATIVE_RESOURCES:
            if name == "ephemeral-storage" or use_requested:
                used = nodes.requested(name)
            else:
                used = nodes.nonzero_requested(name)
        elif is_scalar_resource(name):
            if request == 0:
                continue
            used = nodes.requested(name)
        else:
            continue
        allocatable = nodes.allocatable(name)
        columns.append(Allocation(name, spec.weight, allocatable, used + np.int64(request)))
    return columns


def all_have(nodes: NodeView, columns: list[Allocation], limit: int) -> bool:
    """Whether every candidate has each of the resources (allocatable > 0) and none
    has more than `limit` of one: the scorers' fast path, with no per-node skip and
    no product that could wrap. From the view's bounds, without a reduction."""
    for column in columns:
        low, high = nodes.allocatable_bounds(column.name)
        if low <= 0 or high > limit:
            return False
    return True
