"""NodeResourcesFit: does the pod fit the node's free resources, and how full is it.

Mirrors kube-scheduler's noderesources plugin (fit.go, least_allocated.go,
most_allocated.go, requested_to_capacity_ratio.go, resource_allocation.go):

- Filter (fitsRequest): one more pod must fit the node's pod count; every
  resource the pod requests (> 0) must fit allocatable - requested, where a
  resource the node does not have counts as 0 allocatable. ignoredResources
  and ignoredResourceGroups skip extended resources only. All shortfalls are
  reported, joined with ", ": "Too many pods", "Insufficient cpu", ...
- Score, by scoringStrategy.type: LeastAllocated (free share), MostAllocated
  (used share) or RequestedToCapacityRatio (a broken-linear shape over the
  utilization), each per resource on 0..100, combined as the weighted mean
  over the resources the node has. cpu/memory use the non-zero scoring requests.

Args are the v1 NodeResourcesFitArgs, defaulted and validated as upstream.
Integer arithmetic only; RequestedToCapacityRatio's float math.Round of the
weighted mean is computed exactly as a half-up integer division.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from extender.podinfo import is_extended_resource
from policies.base import MAX_NODE_SCORE, Policy
from policies.resource_scoring import (
    FieldErrors,
    ResourceSpec,
    allocation_columns,
    as_int,
    check_keys,
    go_div,
    is_qualified_name,
    parse_resource_specs,
    scaled_ratio,
)

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)

DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))
MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10  # shape scores are on 0..10, scaled to 0..MAX_NODE_SCORE
FIXED_ORDER = ("cpu", "memory", "ephemeral-storage")


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


class FitArgs:
    """Parsed, defaulted and validated v1 NodeResourcesFitArgs."""

    KEYS = ("ignoredResources", "ignoredResourceGroups", "scoringStrategy")
    STRATEGY_KEYS = ("type", "resources", "requestedToCapacityRatio")

    def __init__(self, raw: dict[str, Any]) -> None:
        errors = FieldErrors("NodeResourcesFit")
        check_keys(raw, self.KEYS, "", errors)
        self.ignored_resources = frozenset(self._names(raw, "ignoredResources", errors, False))
        self.ignored_groups = frozenset(self._names(raw, "ignoredResourceGroups", errors, True))
        self.type = LEAST_ALLOCATED
        self.resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES
        self.shape: list[tuple[int, int]] = []
        strategy = raw.get("scoringStrategy")
        if strategy is not None:
            self._strategy(strategy, errors)
        errors.raise_if_any()

    @staticmethod
    def _names(raw: dict, key: str, errors: FieldErrors, group: bool) -> list[str]:
        value = raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            errors.add(key, f"must be a list of strings, got {type(value).__name__}")
            return []
        names = []
        for i, name in enumerate(value):
            where = f"{key}[{i}]"
            if not isinstance(name, str):
                errors.add(where, f"must be a string, got {type(name).__name__}")
                continue
            if group and "/" in name:
                errors.add(where, f"Invalid value: {name!r}: resource group name can't contain '/'")
            if not is_qualified_name(name):
                errors.add(
                    where,
                    f"Invalid value: {name!r}: must be a qualified name: an optional DNS "
                    "subdomain prefix and '/', then at most 63 characters of alphanumerics, "
                    "'-', '_' or '.', starting and ending with an alphanumeric",
                )
            names.append(name)
        return names

    def _strategy(self, strategy: Any, errors: FieldErrors) -> None:
        path = "scoringStrategy"
        if not isinstance(strategy, dict):
            errors.add(path, f"must be an object, got {type(strategy).__name__}")
            return
        check_keys(strategy, self.STRATEGY_KEYS, path, errors)
        kind = strategy.get("type", "")
        if kind not in STRATEGIES:
            supported = ", ".join(f'"{s}"' for s in STRATEGIES)
            errors.add(
                f"{path}.type", f"Unsupported value: {kind!r}: supported values: {supported}"
            )
        else:
            self.type = kind
        raw_resources = strategy.get("resources")
        if raw_resources:  # missing or empty: the default set, as v1 defaulting does
            specs = parse_resource_specs(raw_resources, f"{path}.resources", errors)
            for i, spec in enumerate(specs):
                if spec.weight <= 0 or spec.weight > MAX_NODE_SCORE:
                    errors.add(
                        f"{path}.resources[{i}].weight",
                        f"Invalid value: {spec.weight}: resource weight of {spec.name} "
                        f"not in valid range (0, {MAX_NODE_SCORE}]",
                    )
            self.resources = tuple(specs)
        ratio = strategy.get("requestedToCapacityRatio")
        ratio_path = f"{path}.requestedToCapacityRatio"
        if kind == REQUESTED_TO_CAPACITY_RATIO:
            if ratio is None:
                errors.add(
                    ratio_path,
                    "Required value: must be specified when type is RequestedToCapacityRatio",
                )
            elif not isinstance(ratio, dict):
                errors.add(ratio_path, f"must be an object, got {type(ratio).__name__}")
            else:
                check_keys(ratio, ("shape",), ratio_path, errors)
                self.shape = self._shape(ratio.get("shape"), f"{ratio_path}.shape", errors)
        elif ratio is not None:
            errors.add(
                ratio_path, "Forbidden: must be nil when type is not RequestedToCapacityRatio"
            )

    @staticmethod
    def _shape(raw: Any, path: str, errors: FieldErrors) -> list[tuple[int, int]]:
        """validateFunctionShape: >= 1 point, utilizations strictly increasing in
        0..100, scores in 0..10 (scaled x10 here)."""
        if raw is None or raw == []:
            errors.add(path, "Required value: at least one point must be specified")
            return []
        if not isinstance(raw, list):
            errors.add(path, f"must be a list of {{utilization, score}}, got {type(raw).__name__}")
            return []
        points = []
        for i, point in enumerate(raw):
            where = f"{path}[{i}]"
            if not isinstance(point, dict):
                errors.add(where, f"must be an object {{utilization, score}}, got {point!r}")
                return []
            check_keys(point, ("utilization", "score"), where, errors)
            util, score = as_int(point.get("utilization", 0)), as_int(point.get("score", 0))
            if util is None or score is None:
                errors.add(where, f"utilization and score must be integers, got {point!r}")
                return []
            points.append((util, score))
        for i in range(1, len(points)):
            if points[i - 1][0] >= points[i][0]:
                errors.add(
                    f"{path}[{i}].utilization",
                    f"Invalid value: {points[i][0]}: values must be sorted in increasing order",
                )
                break
        for i, (util, score) in enumerate(points):
            if not 0 <= util <= MAX_UTILIZATION:
                errors.add(
                    f"{path}[{i}].utilization",
                    f"Invalid value: {util}: not in valid range [0, {MAX_UTILIZATION}]",
                )
            if not 0 <= score <= MAX_CUSTOM_PRIORITY_SCORE:
                errors.add(
                    f"{path}[{i}].score",
                    f"Invalid value: {score}: not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]",
                )
        scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
        return [(u, s * scale) for u, s in points]


class NodeResourcesFit(Policy):
    name = "NodeResourcesFit"
    unresolvable = False

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        parsed = FitArgs(self.args)
        self.ignored_resources = parsed.ignored_resources
        self.ignored_groups = parsed.ignored_groups
        self.strategy = parsed.type
        self.resources = parsed.resources
        self._table = (
            broken_linear_table(parsed.shape)
            if self.strategy == REQUESTED_TO_CAPACITY_RATIO
            else None
        )

    # ---- filter ----------------------------------------------------------
    def _ignored(self, resource: str) -> bool:
        if not is_extended_resource(resource):
            return False
        return (
            resource in self.ignored_resources or resource.split("/", 1)[0] in self.ignored_groups
        )

    def _checks(self, pod: PodInfo) -> list[tuple[str, int]]:
        """(resource, amount) the node must have free, in upstream's reason order
        (cpu, memory, ephemeral-storage, then the scalar resources by name)."""
        requests = pod.requests
        first = [(r, requests[r]) for r in FIXED_ORDER if requests.get(r, 0) > 0]
        rest = [
            (r, a)
            for r, a in sorted(requests.items())
            if r not in FIXED_ORDER and a > 0 and not self._ignored(r)
        ]
        return first + rest

    def filter(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        ok = nodes.requested("pods") < nodes.allocatable("pods")
        for resource, amount in self._checks(pod):
            ok &= nodes.allocatable(resource) - nodes.requested(resource) >= amount
        return ok

    def reasons(self, pod: PodInfo, nodes: NodeView, failed: np.ndarray) -> list[str]:
        failed = np.asarray(failed, dtype=np.intp)
        if failed.size == 0:
            return []
        parts: list[list[str]] = [[] for _ in range(failed.size)]
        short = nodes.requested("pods")[failed] >= nodes.allocatable("pods")[failed]
        for pos in np.flatnonzero(short).tolist():
            parts[pos].append("Too many pods")
        for resource, amount in self._checks(pod):
            free = nodes.allocatable(resource)[failed] - nodes.requested(resource)[failed]
            reason = f"Insufficient {resource}"
            for pos in np.flatnonzero(free < amount).tolist():
                parts[pos].append(reason)
        return [", ".join(p) for p in parts]

    # ---- score -----------------------------------------------------------
    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        total = np.zeros(nodes.n, np.int64)
        weights = np.zeros(nodes.n, np.int64)
        if nodes.n == 0:
            return total
        rtcr = self._table is not None
        for weight, alloc, req in allocation_columns(pod, nodes, self.resources, False):
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
