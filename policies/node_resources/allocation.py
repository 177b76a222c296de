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


PLANS_KEPT = 1024  # pod specs whose scored resources a policy keeps


class ScoredResources:
    """`allocation_columns` for one policy's `resources`, with what depends only on
    the pod decided once per pod spec: which resources are scored, from which
    column, with what amount, and whether the pod requests any of them. The pods
    of a spec share their requests mapping (a PodInfo is never mutated), so a plan
    is kept by that mapping's identity (held with it, so the id is not reused) and
    the pod's two non-zero amounts; a request then costs its column reads only."""

    def __init__(self, resources: Iterable[ResourceSpec], use_requested: bool) -> None:
        self.resources = tuple(resources)
        self.use_requested = use_requested
        # (id(requests), nonzero cpu, nonzero memory) -> (requests, plan, requests any,
        # the plan's weights summed)
        self._plans: dict[tuple[int, int, int], tuple[object, list, bool, int]] = {}

    def _plan(self, pod: PodInfo) -> tuple[list[tuple[str, int, bool, np.int64]], bool, int]:
        requests = pod.requests
        key = (id(requests), pod.nonzero_cpu, pod.nonzero_memory)
        found = self._plans.get(key)
        if found is not None and found[0] is requests:
            return found[1], found[2], found[3]
        use_requested = self.use_requested
        plan = []
        for spec in self.resources:
            name = spec.name
            request = pod_request(pod, name, use_requested)
            if name in NATIVE_RESOURCES:
                nonzero = not (name == "ephemeral-storage" or use_requested)
            elif is_scalar_resource(name) and request != 0:
                nonzero = False
            else:
                continue
            plan.append((name, spec.weight, nonzero, np.int64(request)))
        requests_any = any(pod_request(pod, r.name, True) for r in self.resources)
        weight_sum = sum(entry[1] for entry in plan)
        if len(self._plans) >= PLANS_KEPT:
            self._plans.clear()
        self._plans[key] = (requests, plan, requests_any, weight_sum)
        return plan, requests_any, weight_sum

    def requests_any(self, pod: PodInfo) -> bool:
        """Whether the pod requests any of the resources (as is, no scoring defaults)."""
        return self._plan(pod)[1]

    def columns(self, pod: PodInfo, nodes: NodeView) -> list[Allocation]:
        """`allocation_columns(pod, nodes, resources, use_requested)`.

        Each `used` is a fresh array of its own (the view's column plus the request,
        even when that is 0), which the caller may compute into in place."""
        return self._columns(self._plan(pod)[0], nodes)

    def weighed_columns(
        self, pod: PodInfo, nodes: NodeView, requested_only: bool = False
    ) -> tuple[list[Allocation], int] | None:
        """(`columns(pod, nodes)`, the sum of their weights) from one look-up of the
        spec's plan; None with `requested_only` when the pod requests none of the
        resources (`requests_any` false)."""
        plan, requests_any, weight_sum = self._plan(pod)
        if requested_only and not requests_any:
            return None
        return self._columns(plan, nodes), weight_sum

    @staticmethod
    def _columns(plan: list[tuple[str, int, bool, np.int64]], nodes: NodeView) -> list[Allocation]:
        out = []
        for name, weight, nonzero, request in plan:
            used = nodes.nonzero_requested(name) if nonzero else nodes.requested(name)
            out.append(Allocation(name, weight, nodes.allocatable(name), np.add(used, request)))
        return out


def all_have(nodes: NodeView, columns: list[Allocation], limit: int) -> bool:
    """Whether every candidate has each of the resources (allocatable > 0) and none
    has more than `limit` of one: the scorers' fast path, with no per-node skip and
    no product that could wrap. From the view's bounds, without a reduction."""
    for column in columns:
        low, high = nodes.allocatable_bounds(column.name)
        if low <= 0 or high > limit:
            return False
    return True
