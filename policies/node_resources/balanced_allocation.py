"""NodeResourcesBalancedAllocation: favour nodes whose resources are used evenly.

Mirrors kube-scheduler's noderesources/balanced_allocation.go: per resource
the fraction f = requested / allocatable (node's requested plus the pod's
plain requests, capped at 1), skipping resources the node has none of and
scalar resources the pod does not request; score = (1 - std(f)) * 100,
truncated, with std the population standard deviation (upstream's two-resource
shortcut |f1 - f2| / 2 is the same value). A pod requesting none of the
resources (best effort) is skipped by upstream's PreScore: every node scores 0.

Integer formulation (upstream uses float64), exact: fractions are scaled to
F = floor(f * S) with S a power of two. With n resources on a node,
V = n * sum(F^2) - (sum F)^2 = (n S)^2 var(F), so 100 * std = 100 sqrt(V) / (n S)
and the score is 100 - k with k the smallest integer such that
(k n S)^2 >= 10000 V. k lies in 0..50 (a std of values in [0, 1] is at most
1/2), so it is found with one searchsorted over the 51 precomputed
thresholds, no square root needed. Flooring moves std by less than one unit of
1/S, so k can only be off where 100 * std lies within 100/S of an integer and
some fraction was inexact; those few nodes are recomputed exactly with Python
integers. The result is therefore (1 - std) * 100 truncated exactly;
upstream's float64 evaluation differs from that by at most 1, when 100 * std
is an integer up to rounding (tests/policies/test_scoring_properties.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from extender.api import DYNAMIC, MAX_NODE_SCORE, NodeView, PodInfo, Policy
from policies.helper.intmath import INT64_MAX, scaled_ratio_rem
from policies.node_resources.allocation import Allocation, ScoredResources
from policies.node_resources.args import parse_balanced_args

MAX_STD_PENALTY = MAX_NODE_SCORE // 2  # 100 * std never exceeds 50
_SCORE_SQUARED = MAX_NODE_SCORE * MAX_NODE_SCORE
FRACTION_BITS = 24


def fraction_scale(resources: int) -> int:
    """The largest power of two S <= 2^24 keeping (n (50 S + 100))^2 inside int64
    for n <= resources (the thresholds and the ambiguity window)."""
    bits = FRACTION_BITS
    n = max(resources, 2)
    while bits > 1 and (n * (MAX_STD_PENALTY * (1 << bits) + MAX_NODE_SCORE)) ** 2 > INT64_MAX:
        bits -= 1
    return 1 << bits


def exact_penalty(shares: list[tuple[int, int]]) -> int:
    """ceil(100 * std) of the fractions used/capacity, exactly, in Python integers.

    Over the common denominator L = prod(capacity), g_i = f_i L are integers and
    100 std = 100 sqrt(n sum g^2 - (sum g)^2) / (n L).
    """
    n = len(shares)
    common = math.prod(capacity for _, capacity in shares)
    scaled = [used * (common // capacity) for used, capacity in shares]
    total = sum(scaled)
    target = _SCORE_SQUARED * (n * sum(g * g for g in scaled) - total * total)
    root = math.isqrt(target)
    step = n * common
    if root * root == target:
        return -(-root // step)
    return root // step + 1


def _two_resource_score(columns: list[Allocation], nodes: NodeView) -> np.ndarray | None:
    """100 - ceil(100 std) = 100 - ceil(50 |f1 - f2|) for two resources, every node
    having both (None otherwise: see `_two_resource_penalty`).

    The usual magnitudes in place over the columns' own `used` arrays, as
    100 + floor(-50 |u1 c2 - u2 c1| / (c1 c2)): no temporaries, no negations."""
    (name1, _, c1, r1), (name2, _, c2, r2) = columns
    low1, top1 = nodes.allocatable_bounds(name1)
    low2, top2 = nodes.allocatable_bounds(name2)
    if low1 > 0 and low2 > 0 and MAX_STD_PENALTY * top1 * top2 <= INT64_MAX:
        # the bounds hold for every candidate: each has both, and (with u <= c)
        # every product here is at most 50 top1 top2, inside int64
        u1 = np.minimum(r1, c1, out=r1)
        u2 = np.minimum(r2, c2, out=r2)
        u1 *= c2
        u2 *= c1
        u1 -= u2
        np.abs(u1, out=u1)
        u1 *= -MAX_STD_PENALTY
        u1 //= c1 * c2
        u1 += MAX_NODE_SCORE
        return u1
    fast = _two_resource_penalty(columns, nodes)
    return None if fast is None else MAX_NODE_SCORE - fast


def _two_resource_penalty(columns: list[Allocation], nodes: NodeView) -> np.ndarray | None:
    """ceil(100 std) = ceil(50 |f1 - f2|) for two resources, every node having both.

    The common case (cpu and memory) in a few vector operations: exactly over the
    common denominator c1 c2 when 50 c1 c2 fits in int64 (millicores times bytes
    of any node today), else fractions in fixed point F = floor(u S / c) with S
    as large as int64 allows, so D = |F1 - F2| is within 1 of S |f1 - f2|; where
    that window could change the ceiling, or the values are too large for the
    fixed point, the node is recomputed exactly with Python integers. None when
    some node lacks one of the resources (the general path handles the per-node
    resource count).
    """
    (name1, _, c1, r1), (name2, _, c2, r2) = columns
    # the view's bounds first: for the cache's nodes they cost no reduction
    low1, top1 = nodes.allocatable_bounds(name1)
    low2, top2 = nodes.allocatable_bounds(name2)
    if low1 <= 0 or low2 <= 0:
        if not ((c1 > 0).all() and (c2 > 0).all()):
            return None
    if MAX_STD_PENALTY * top1 * top2 > INT64_MAX:  # the bounds may be loose: the exact ones
        top1, top2 = int(c1.max()), int(c2.max())
    if MAX_STD_PENALTY * top1 * top2 <= INT64_MAX:
        # the usual magnitudes (millicores times bytes): exactly, with no fixed point.
        # 100 std = 50 |u1/c1 - u2/c2| = 50 |u1 c2 - u2 c1| / (c1 c2), and with u <= c
        # every product here is at most 50 top1 top2, inside int64
        u1 = np.minimum(r1, c1)
        u2 = np.minimum(r2, c2)
        return -(-(MAX_STD_PENALTY * np.abs(u1 * c2 - u2 * c1)) // (c1 * c2))
    top = max(top1, top2)
    bits = min(FRACTION_BITS, 62 - top.bit_length())
    if bits < 8:
        return None
    scale = 1 << bits
    u1 = np.minimum(r1, c1)
    u2 = np.minimum(r2, c2)
    f1, m1 = np.divmod(u1 << bits, c1)
    f2, m2 = np.divmod(u2 << bits, c2)
    d = np.abs(f1 - f2)
    half = MAX_STD_PENALTY  # 100 std = 50 |f1 - f2|
    hi = half * (d + 1)
    k = -(-hi // scale)  # ceil of the window's top
    exact = (m1 == 0) & (m2 == 0)
    k = np.where(exact, -(-(half * d) // scale), k)
    # the true value lies in (half (d - 1) / S, half (d + 1) / S): unambiguous when
    # that window sits inside one step (k - 1, k] of the ceiling
    unsure = ~exact & (half * (d - 1) < (k - 1) * scale)
    for i in np.flatnonzero(unsure).tolist():
        k[i] = exact_penalty([(int(u1[i]), int(c1[i])), (int(u2[i]), int(c2[i]))])
    return k


class NodeResourcesBalancedAllocation(Policy):
    name = "NodeResourcesBalancedAllocation"
    depends_on = DYNAMIC  # what the pods placed request

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        super().__init__(args)
        self.resources = parse_balanced_args(self.args)
        self._scored = ScoredResources(self.resources, True)
        self.scale = fraction_scale(len(self.resources))
        # thresholds[n][k] = (k n S)^2 for k = 0..50
        steps = np.arange(MAX_STD_PENALTY + 1, dtype=np.int64)
        self._thresholds = {
            n: (steps * (n * self.scale)) ** 2 for n in range(2, len(self.resources) + 1)
        }

    def score(self, pod: PodInfo, nodes: NodeView) -> np.ndarray:
        found = self._scored.weighed_columns(pod, nodes, requested_only=True) if nodes.n else None
        if found is None:
            return np.zeros(nodes.n, np.int64)  # best-effort pod: upstream skips the plugin
        columns = found[0]
        if len(columns) == 2:
            fast = _two_resource_score(columns, nodes)
            if fast is not None:
                return fast
        count = np.zeros(nodes.n, np.int64)
        total = np.zeros(nodes.n, np.int64)
        squares = np.zeros(nodes.n, np.int64)
        inexact = np.zeros(nodes.n, bool)
        shares = []
        for _, _, alloc, req in columns:
            has = alloc > 0
            capacity = np.maximum(alloc, 1)  # allocatable is never negative
            used = np.minimum(req, capacity)
            scaled, remainder = scaled_ratio_rem(used, capacity, self.scale)
            scaled *= has
            count += has
            total += scaled
            squares += scaled * scaled
            inexact |= remainder & has
            shares.append((has, used, capacity))
        spread = _SCORE_SQUARED * (count * squares - total * total)
        penalty = self._penalty(count, spread)
        unsure = inexact & (count >= 2) & self._near_threshold(count, penalty, spread)
        for i in np.flatnonzero(unsure).tolist():
            penalty[i] = exact_penalty(
                [(int(used[i]), int(capacity[i])) for has, used, capacity in shares if has[i]]
            )
        return MAX_NODE_SCORE - penalty

    def _penalty(self, count: np.ndarray, spread: np.ndarray) -> np.ndarray:
        """k = ceil(100 sqrt(spread / 10000) / (n S)) per node, by searchsorted per n."""
        penalty = np.zeros(count.size, np.int64)
        low, high = int(count.min()), int(count.max())
        for n in range(max(low, 2), high + 1):
            if low == high:
                return np.searchsorted(self._thresholds[n], spread).astype(np.int64)
            at = count == n
            if at.any():
                penalty[at] = np.searchsorted(self._thresholds[n], spread[at])
        return penalty

    def _near_threshold(
        self, count: np.ndarray, penalty: np.ndarray, spread: np.ndarray
    ) -> np.ndarray:
        """Nodes whose 100 sqrt(V) lies within 100 n of a threshold k n S: there the
        flooring of the fractions (< 1 unit each, < 1 unit of std) could move k."""
        scale = self.scale
        upper = count * (penalty * scale - MAX_NODE_SCORE)
        lower = count * ((penalty - 1) * scale + MAX_NODE_SCORE)
        near_upper = (upper < 0) | (spread > upper * upper)
        near_lower = (penalty > 0) & (spread < lower * lower)
        return near_upper | near_lower
