"""What a place or grow plan did to the cluster, in the units people plan with.

CPU in millicores, every other resource in whole units (bytes, pods, devices).

- Per node: requests before and after the plan, against allocatable.
- Stranded capacity, per resource r: the free r (allocatable minus requests,
  after the plan) on the nodes that are closed to the workload, counted only
  where r is not what closed them. A node is closed when no template of the
  workload passes the filters there any more although one did before the plan
  (or was placed there); r is not what closed it when every such template
  requests no more r than the node still has free, so something else (another
  resource, the pod count, a host port) ran out first.
- Lower bound: per resource, the fewest nodes whose allocatable could hold the
  cluster's total requests after the plan (the largest nodes first; with nodes
  of one size, total over per-node allocatable rounded up); the largest over
  the resources. Packing efficiency is that bound over the nodes in use.
- For grow, the nodes added against their own lower bound: per resource, the
  requests of the pods placed on added nodes over the allocatable of the
  largest shape added, rounded up; the largest over the resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from extender.cache.state import ClusterState
from extender.plan.place import PlaceResult
from extender.plan.shapes import Shape
from extender.plan.source import Cluster
from extender.plan.workload import Template

BASE_RESOURCES = ("cpu", "memory", "pods")


def resources_of(templates: list[Template]) -> list[str]:
    """cpu, memory, pods, then whatever else the workload requests, in order."""
    out = list(BASE_RESOURCES)
    for t in templates:
        for r, amount in sorted(t.info.requests.items()):
            if amount and r not in out:
                out.append(r)
    return out


@dataclass
class Usage:
    names: list[str]
    allocatable: dict[str, np.ndarray]
    requested: dict[str, np.ndarray]


def usage(cluster: Cluster, resources: list[str]) -> Usage:
    with cluster.state.lock:
        view, _, _ = cluster.state.view(cluster.names)
        return Usage(
            list(cluster.names),
            {r: view.allocatable(r).copy() for r in resources},
            {r: view.requested(r).copy() for r in resources},
        )


def smallest_cover(allocatable: np.ndarray, total: int) -> int:
    """Fewest nodes (largest first) whose allocatable sums to `total` or more;
    -1 when all of them together cannot."""
    if total <= 0:
        return 0
    sums = np.cumsum(np.sort(allocatable)[::-1])
    k = int(np.searchsorted(sums, total, side="left"))
    return k + 1 if k < len(sums) else -1


@dataclass
class Measures:
    resources: list[str]
    before: Usage
    after: Usage
    stranded: dict[str, int]
    lower_bound: int
    lower_bound_by: dict[str, int]
    nodes_used: int
    added_lower_bound: int | None


def measure(
    cluster: Cluster,
    templates: list[Template],
    result: PlaceResult,
    before: Usage,
    shapes: list[Shape] | None,
) -> Measures:
    resources = before.allocatable.keys()
    after = usage(cluster, list(resources))
    n, n0 = len(after.names), len(before.names)
    # which kinds of pod (templates scheduled alike) count on which node: they fit
    # there before the plan, or were placed there
    groups = sorted(result.start_fits)
    row = {g: i for i, g in enumerate(groups)}
    relevant = np.zeros((len(groups), n), bool)
    for g, fits in result.start_fits.items():
        relevant[row[g], :n0] = fits
    position = cluster.position
    for k, _, node in result.placements:
        if node is not None:
            relevant[row[result.groups[k]], position[node]] = True
    open_now = np.zeros(n, bool)
    with cluster.state.lock:
        view, _, _ = cluster.state.view(cluster.names)
        for g in groups:
            if relevant[row[g]].any():
                passed = cluster.engine.filter(templates[g].info, view, reasons=False).passed
                open_now[passed] = True
    closed = relevant.any(axis=0) & ~open_now
    stranded: dict[str, int] = {}
    for r in resources:
        free = np.maximum(after.allocatable[r] - after.requested[r], 0)
        blocks = np.zeros(n, bool)
        for g in groups:
            need = templates[g].info.requests.get(r, 0) if r != "pods" else 1
            blocks |= relevant[row[g]] & (need > free)
        stranded[r] = int(free[closed & ~blocks].sum())
    bound_by = {
        r: smallest_cover(after.allocatable[r], int(after.requested[r].sum())) for r in resources
    }
    used = int((after.requested["pods"] > 0).sum())
    added_bound = None
    if shapes is not None:
        added = np.zeros(n, bool)
        added[[position[name] for name, _ in result.added_nodes]] = True
        added_bound = 0
        used_shapes = [s for s in shapes if result.added.get(s.name)]
        shape_alloc = usage_of_shapes(cluster, used_shapes, list(resources))
        for r in resources:
            total = int(after.requested[r][added].sum())
            largest = max(shape_alloc[r], default=0)
            if total and largest:
                added_bound = max(added_bound, -(-total // largest))
    return Measures(
        list(resources),
        before,
        after,
        stranded,
        max(bound_by.values(), default=0),
        bound_by,
        used,
        added_bound,
    )


def usage_of_shapes(cluster: Cluster, shapes: list[Shape], resources: list[str]) -> dict:
    """Allocatable per resource of each shape, read as the state reads a node."""
    if not shapes:
        return {r: [] for r in resources}
    scratch = ClusterState()
    scratch.load_items([s.instance(s.name) for s in shapes])
    view, _, _ = scratch.view([s.name for s in shapes])
    return {r: view.allocatable(r).tolist() for r in resources}
