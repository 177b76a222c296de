"""Shared pieces of the resource policies: exact integer ratios, resource
classes, the per-resource (allocatable, requested) columns kube-scheduler's
resourceAllocationScorer scores, and the v1 args helpers they validate with.

Everything here is integer arithmetic over int64 numpy arrays. Products that
could leave int64 (a huge extended-resource capacity times a scale) are
detected with one max() per call and then computed exactly with Python
integers instead, so results never wrap.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from extender.errors import ConfigError
from extender.podinfo import is_tracked_resource

if TYPE_CHECKING:
    from extender.podinfo import PodInfo
    from extender.view import NodeView

INT64_MAX = 2**63 - 1
NATIVE_SCORED = ("cpu", "memory", "ephemeral-storage")

_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_PART_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


# ---------------------------------------------------------------------------
# Exact integer ratios


def scaled_ratio(num: np.ndarray, den: np.ndarray, scale: int) -> np.ndarray:
    """floor(num * scale / den) per element, for 0 <= num <= den and den >= 1.

    This is upstream's `requested * MaxNodeScore / capacity` (Go's int64
    division truncates, which equals floor for non-negative operands).
    """
    if den.size and int(den.max()) <= INT64_MAX // scale:
        return num * np.int64(scale) // den
    return scaled_ratio_rem(num, den, scale)[0]


def scaled_ratio_rem(num: np.ndarray, den: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """scaled_ratio and, per element, whether the division left a remainder.

    When den * scale would leave int64 the scale is applied in two exact steps
    (long division by two factors of `scale`), and only beyond that in Python
    integers, so nothing ever wraps.
    """
    if den.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    top = int(den.max())
    if top <= INT64_MAX // scale:
        quotient, remainder = np.divmod(num * np.int64(scale), den)
        return quotient, remainder != 0
    first, second = _split(scale)
    if top <= INT64_MAX // max(first, second):
        high, rest = np.divmod(num * np.int64(first), den)
        low, remainder = np.divmod(rest * np.int64(second), den)
        return high * np.int64(second) + low, remainder != 0
    big_num, big_den = num.astype(object) * scale, den.astype(object)
    return (big_num // big_den).astype(np.int64), (big_num % big_den != 0).astype(bool)


@functools.lru_cache(maxsize=64)
def _split(scale: int) -> tuple[int, int]:
    """scale = first * second with first the largest divisor not above sqrt(scale)."""
    first = math.isqrt(scale)
    while scale % first:
        first -= 1
    return first, scale // first


def mul_div(values: np.ndarray, mul: int, div: int) -> np.ndarray:
    """floor(values * mul / div) per element for values >= 0, mul >= 0, div >= 1."""
    if values.size == 0:
        return np.zeros(0, np.int64)
    if mul == 0 or int(values.max()) <= INT64_MAX // mul:
        return values * np.int64(mul) // np.int64(div)
    return (values.astype(object) * mul // div).astype(np.int64)


def go_div(a: int, b: int) -> int:
    """Go's integer division (truncation toward zero) for b != 0."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ---------------------------------------------------------------------------
# Resource classes (pkg/scheduler/util and pkg/apis/core/v1/helper)


def is_scalar_resource(name: str) -> bool:
    """schedutil.IsScalarResourceName: extended resources, hugepages-*,
    *kubernetes.io/* and attachable-volumes-*."""
    return name not in NATIVE_SCORED and is_tracked_resource(name)


def is_qualified_name(value: str) -> bool:
    """metav1validation.ValidateLabelName: an optional DNS-subdomain prefix and '/',
    then a name of at most 63 alphanumerics, '-', '_' or '.', alphanumeric at both ends."""
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(prefix):
            return False
    return 0 < len(name) <= 63 and _NAME_PART_RE.fullmatch(name) is not None


# ---------------------------------------------------------------------------
# The columns resourceAllocationScorer scores


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    weight: int


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
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(weight, allocatable, requested incl. the pod) for each resource that is scored.

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
        if name in NATIVE_SCORED:
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
        columns.append((spec.weight, nodes.allocatable(name), used + np.int64(request)))
    return columns


# ---------------------------------------------------------------------------
# Validation helpers for the v1 args (errors read like kube-scheduler's field errors)


class FieldErrors:
    """Collects `path: message` errors and raises them together as one ConfigError."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.errors: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigError(f"{self.plugin}: invalid args: " + "; ".join(self.errors))


def check_keys(raw: dict, allowed: tuple[str, ...], path: str, errors: FieldErrors) -> None:
    """Unknown fields are errors, as kube-scheduler's strict decoding makes them."""
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            errors.add(where, f"unknown field; known fields: {', '.join(allowed)}")


def as_int(value: Any) -> int | None:
    """An integer JSON value (a bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_resource_specs(raw: Any, path: str, errors: FieldErrors) -> list[ResourceSpec]:
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
        check_keys(item, ("name", "weight"), where, errors)
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
