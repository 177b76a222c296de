"""NodeResourcesFit: does the pod fit the node's free resources, and how full is it.

Mirrors kube-scheduler's noderesources plugin (fit.go, least_allocated.go,
most_allocated.go, requested_to_capacity_ratio.go, resource_allocation.go):

- Filter (fitsRequest): one more pod must fit the node's pod count; every
  resource the pod requests (> 0) must fit allocatable - requested, where a
  resource the node does not have counts as 0 allocatable. ignoredResources
  and ignoredResourceGroups skip extended resources only. All shortfalls are
  reported, joined with ", ": "Too many pods", "Insufficient cpu", ...
  A node is UnschedulableAndUnresolvable when some request is larger than
  its whole allocatable (an extended resource it lacks: allocatable 0), since
  no preemption can free that much (kube-scheduler 1.34, InsufficientResource's
  Unresolvable); a full pod count, or a shortfall that evicting pods could
  cover, stays Unschedulable.
- Score, by scoringStrategy.type: LeastAllocated (free share), MostAllocated
  (used share) or RequestedToCapacityRatio (a broken-linear shape over the
  utilization), each per resource on 0..100, combined as the weighted mean
  over the resources the node has. cpu/memory use the non-zero scoring requests.

Args are the v1 NodeResourcesFitArgs, defaulted and validated as upstream.
Integer arithmetic only; RequestedToCapacityRatio's float math.Round of the
weighted mean is computed exactly as a half-up integer division.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from extender.api import (
    DYNAMIC,
    MAX_NODE_SCORE,
    NodeView,
    PodInfo,
    Policy,
    is_extended_resource,
    lacks_room,
)
from policies.helper.intmath import INT64_MAX, go_div, scaled_ratio
from policies.node_resources.allocation import Allocation, ScoredResources, all_have
from policies.node_resources.args import (
    LEAST_ALLOCATED,
    MAX_UTILIZATION,
    REQUESTED_TO_CAPACITY_RATIO,
    FitArgs,
)

FIXED_ORDER = ("cpu", "memory", "ephemeral-storage")
_SCORE = np.int64(MAX_NODE_SCORE)
CHECKS_KEPT = 1024  # requests mappings whose checks are kept (a few per spec)
_CODE_BITS = 62  # checks a shortfall code holds beside the pod count (intp, 63 bits)
_SCALE_LIMIT = INT64_MAX // MAX_NODE_SCORE  # allocatable * 100 stays in int64 up to here


def broken_linear_table(shape: list[tuple[int, int]]) -> np.ndarray:
    """helper.BuildBrokenLinearFunction evaluated at every utilization 0..100.

    Utilizations reaching the function are always integers in 0..100, so the
    function is a 101-entry lookup table (built with Go's truncating division).
    """
    table = []
    for p in range(MAX_UTILIZATION + 1):
        value = shape[-1][1]
        for i, (util, score) in enumerate(shape):
            if p <= util:
                if i == 0:
                    value = score
                else:
                    prev_util, prev_score = shape[i - 1]
                    value = prev_score + go_div(
                        (score - prev_score) * (p - prev_util), util - prev_util
                    )
                break
        table.append(value)
    return np.array(table, np.int64)


def _floor_div(values: np.ndarray, divisor: int) -> np.ndarray:
    """values // divisor (divisor > 0) in place; a power of two as a shift, which is
    the same floor for every int64 and about half the instructions of a division."""
    if divisor & (divisor - 1) == 0:
        if divisor > 1:
            values >>= divisor.bit_length() - 1
        return values
    values //= divisor
    return values


class NodeResourcesFit(Policy):
    name = "NodeResourcesFit"
    depends_on = DYNAMIC  # what the pods placed request
    unresolvable = False

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        parsed = FitArgs(self.args)
        self.ignored_resources = parsed.ignored_resources
        self.ignored_groups = parsed.ignored_groups
        self.strategy = parsed.type
        self.resources = parsed.resources
        self._scored = ScoredResources(self.resources, False)
        self._table = (
            broken_linear_table(parsed.shape)
            if self.strategy == REQUESTED_TO_CAPACITY_RATIO
            else None
        )
        # id(pod.requests) -> (pod.requests, its checks)
        self._checks_of: dict[int, tuple[Any, list[tuple[str, int]]]] = {}
        # (checked resource names) -> {shortfall code: reason text} (see reasons())
        self._texts_of: dict[tuple[str, ...], dict[int, str]] = {}

    # ---- filter ----------------------------------------------------------
    def ignores(self, resource: str) -> bool:
        """Whether the filter leaves `resource` unchecked (ignoredResources and
        ignoredResourceGroups, extended resources only); /bind's re-check asks too."""
        if not is_extended_resource(resource):
            return False
        return (
            resource in self.ignored_resources or resource.split("/", 1)[0] in self.ignored_groups
        )

    def _checks(self, pod: PodInfo) -> list[tuple[str, int]]:
        """(resource, amount) the node must have free, in upstream's reason order
        (cpu, memory, ephemeral-storage, then the scalar resources by name).

        Kept per requests mapping (the pods of a spec share it; a PodInfo is never
        mutated), by identity: the mapping is held with its list, so its id is not
        reused while the entry lives."""
        requests = pod.requests
        found = self._checks_of.get(id(requests))
        if found is not None and found[0] is requests:
            return found[1]
        checks = self._build_checks(requests)
        if len(self._checks_of) >= CHECKS_KEPT:
            self._checks_of.clear()
        self._checks_of[id(requests)] = (requests, checks)
        return checks

    def _build_checks(self, requests: Any) -> list[tuple[str, int]]:
        first = [(r, requests[r]) for r in FIXED_ORDER if requests.get(r, 0) > 0]
        rest = [
            (r, a)
            for r, a in sorted(requests.items())
            if r not in FIXED_ORDER and a > 0 and not self.ignores(r)
        ]
        return first + rest

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        # `allocatable - requested >= amount` is `~lacks_room(...)`, the test /bind
        # repeats (extender.cache.nodetable.NodeTable.fits), one inversion fewer; for
        # the pod count (amount 1, integers) it is `requested < allocatable`, one
        # vector operation instead of two
        ok = nodes.requested("pods") < nodes.allocatable("pods")
        for resource, amount in self._checks(pod):
            ok &= nodes.allocatable(resource) - nodes.requested(resource) >= amount
        return ok

    def unresolvable_mask(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> np.ndarray:
        """Per failed node: a request exceeds its whole allocatable (pods excepted)."""
        failed = np.asarray(failed, dtype=np.intp)
        hopeless = np.zeros(failed.size, dtype=bool)
        for resource, amount in self._checks(pod):
            if amount <= nodes.allocatable_bounds(resource)[0]:
                continue  # every candidate has at least this much: none hopeless by it
            hopeless |= nodes.allocatable(resource)[failed] < amount
        return hopeless

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        """Every shortfall of each failed node, joined with ", " in upstream's order.

        A node's shortfalls are one small integer (bit 0 the pod count, bit k the
        k-th check), so a request's hundreds of failed nodes cost one numpy pass
        per resource and one lookup each, not a list and a join per node; the
        texts of the codes met are kept per set of checked resources."""
        failed = np.asarray(failed, dtype=np.intp)
        if failed.size == 0:
            return []
        checks = self._checks(pod)
        # past 62 checks a code no longer fits an intp: Python ints (object arrays)
        dtype = np.intp if len(checks) < _CODE_BITS else object
        code = lacks_room(
            nodes.allocatable("pods")[failed], nodes.requested("pods")[failed], 1
        ).astype(dtype)
        for bit, (resource, amount) in enumerate(checks, 1):
            short = lacks_room(
                nodes.allocatable(resource)[failed], nodes.requested(resource)[failed], amount
            )
            code |= short.astype(dtype) << bit
        texts = self._reason_texts(checks)
        codes = code.tolist()
        try:
            return [texts[c] for c in codes]
        except KeyError:
            for c in set(codes).difference(texts):
                texts[c] = _reason_text(c, checks)
            return [texts[c] for c in codes]

    def _reason_texts(self, checks: list[tuple[str, int]]) -> dict[int, str]:
        """code -> reason text for these checks' resources (amounts do not enter the
        text), kept per tuple of resource names."""
        key = tuple(resource for resource, _ in checks)
        texts = self._texts_of.get(key)
        if texts is None:
            if len(self._texts_of) >= CHECKS_KEPT:
                self._texts_of.clear()
            texts = self._texts_of[key] = {}
        return texts

    # ---- score -----------------------------------------------------------
    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        if nodes.n == 0:
            return np.zeros(0, np.int64)
        columns, weight_sum = self._scored.weighed_columns(pod, nodes)  # type: ignore[misc]
        if self._table is None and all_have(nodes, columns, _SCALE_LIMIT):
            if weight_sum > 0:
                return self._plain_score(columns, weight_sum)
        return self._score(columns, nodes.n)

    def _plain_score(self, columns: list[Allocation], weight_sum: int) -> np.ndarray:
        """LeastAllocated or MostAllocated where every candidate has every resource
        and no allocatable times 100 leaves int64 (the usual case): each node's
        weights add up to `weight_sum`, so the per-node skip and weight columns of
        `_score` drop out, and `scaled_ratio`'s overflow check with them (its
        bound is the view's). About a third of `_score`'s numpy calls."""
        total = None
        least = self.strategy == LEAST_ALLOCATED
        for column in columns:
            capacity = column.allocatable
            # `used` is the columns' own fresh array: computed in place, no temporaries
            part = np.minimum(column.used, capacity, out=column.used)
            if least:
                np.subtract(capacity, part, out=part)
            part *= _SCORE
            part //= capacity
            if column.weight != 1:
                part *= column.weight
            if total is None:
                total = part
            else:
                total += part
        return _floor_div(total, weight_sum)

    def _score(self, columns: list[Allocation], n: int) -> np.ndarray:
        """Every strategy, any nodes: a resource a node lacks is skipped there."""
        total = np.zeros(n, np.int64)
        weights = np.zeros(n, np.int64)
        rtcr = self._table is not None
        for _, weight, alloc, req in columns:
            has = alloc > 0
            capacity = np.maximum(alloc, 1)  # allocatable is never negative
            if self.strategy == LEAST_ALLOCATED:
                free = capacity - req
                np.maximum(free, 0, out=free)
                part = scaled_ratio(free, capacity, MAX_NODE_SCORE)
            else:
                used = np.minimum(req, capacity)
                part = scaled_ratio(used, capacity, MAX_UTILIZATION if rtcr else MAX_NODE_SCORE)
                if rtcr:
                    part = self._table[part]
                    has &= part > 0  # upstream counts only resources scoring above 0
            counted = has * np.int64(weight)
            total += part * counted
            weights += counted
        safe = np.maximum(weights, 1)
        if rtcr:  # int64(math.Round(nodeScore / weightSum)), exactly: half up
            result = (2 * total + safe) // (2 * safe)
        else:
            result = total // safe
        return np.where(weights > 0, result, 0)


def _reason_text(code: int, checks: list[tuple[str, int]]) -> str:
    """The reason for a shortfall code: bit 0 "Too many pods", bit k "Insufficient
    <k-th checked resource>", joined with ", " (fitsRequest's order)."""
    parts = ["Too many pods"] if code & 1 else []
    parts += [f"Insufficient {r}" for k, (r, _) in enumerate(checks, 1) if code >> k & 1]
    return ", ".join(parts)
