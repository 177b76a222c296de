"""The v1 args of the resource plugins, defaulted and validated as kube-scheduler does.

NodeResourcesFitArgs and NodeResourcesBalancedAllocationArgs (upstream:
pkg/scheduler/apis/config/v1 defaulting, apis/config/validation). Every
problem is reported at once, each with its field path.
"""

from __future__ import annotations

from typing import Any

from extender.api import MAX_NODE_SCORE, ArgsErrors, as_int, is_qualified_name
from policies.node_resources.allocation import DEFAULT_RESOURCES, ResourceSpec

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)
MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10  # shape scores are on 0..10, scaled to 0..MAX_NODE_SCORE


def parse_resource_specs(raw: Any, path: str, errors: ArgsErrors) -> list[ResourceSpec]:
    """A list of {name, weight}; a missing or 0 weight defaults to 1 as in v1 defaulting."""
    if not isinstance(raw, list):
        errors.add(path, f"must be a list of {{name, weight}}, got {type(raw).__name__}")
        return []
    specs = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            errors.add(where, f"must be an object {{name, weight}}, got {type(item).__name__}")
            continue
        errors.unknown_keys(item, ("name", "weight"), where)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            errors.add(f"{where}.name", "Required value: must be a non-empty resource name")
            continue
        weight = item.get("weight", 0)
        if weight is None:
            weight = 0
        number = as_int(weight)
        if number is None:
            errors.add(f"{where}.weight", f"must be an integer, got {weight!r}")
            continue
        specs.append(ResourceSpec(name, number or 1))
    return specs


class FitArgs:
    """Parsed, defaulted and validated v1 NodeResourcesFitArgs."""

    KEYS = ("ignoredResources", "ignoredResourceGroups", "scoringStrategy")
    STRATEGY_KEYS = ("type", "resources", "requestedToCapacityRatio")

    def __init__(self, raw: dict[str, Any]) -> None:
        errors = ArgsErrors("NodeResourcesFit")
        errors.unknown_keys(raw, self.KEYS)
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
    def _names(raw: dict, key: str, errors: ArgsErrors, group: bool) -> list[str]:
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

    def _strategy(self, strategy: Any, errors: ArgsErrors) -> None:
        path = "scoringStrategy"
        if not isinstance(strategy, dict):
            errors.add(path, f"must be an object, got {type(strategy).__name__}")
            return
        errors.unknown_keys(strategy, self.STRATEGY_KEYS, path)
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
                errors.unknown_keys(ratio, ("shape",), ratio_path)
                self.shape = self._shape(ratio.get("shape"), f"{ratio_path}.shape", errors)
        elif ratio is not None:
            errors.add(
                ratio_path, "Forbidden: must be nil when type is not RequestedToCapacityRatio"
            )

    @staticmethod
    def _shape(raw: Any, path: str, errors: ArgsErrors) -> list[tuple[int, int]]:
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
            errors.unknown_keys(point, ("utilization", "score"), where)
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


def parse_balanced_args(raw: dict[str, Any]) -> tuple[ResourceSpec, ...]:
    """v1 NodeResourcesBalancedAllocationArgs: defaulted and validated as upstream."""
    errors = ArgsErrors("NodeResourcesBalancedAllocation")
    errors.unknown_keys(raw, ("resources",))
    value = raw.get("resources")
    specs: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES
    if value:
        parsed = parse_resource_specs(value, "resources", errors)
        seen: set[str] = set()
        for i, spec in enumerate(parsed):
            if spec.name in seen:
                errors.add(f"resources[{i}].name", f"Duplicate value: {spec.name!r}")
            seen.add(spec.name)
            if spec.weight != 1:
                errors.add(f"resources[{i}].weight", f"Invalid value: {spec.weight}: must be 1")
        specs = tuple(parsed)
    errors.raise_if_any()
    return specs
