"""Property tests for the resource and image scores, over random clusters built
through the real cache (tests.helpers.make_view).

Where upstream computes in float64, the upstream formula is evaluated here in
Python floats (IEEE double, as Go's float64) as the reference, and the largest
deviation of podsift's integer formulation is stated and asserted:

- NodeResourcesBalancedAllocation: at most 1 (BALANCED_MAX_DEVIATION); podsift's
  value equals (1 - std) * 100 truncated in exact rational arithmetic, and upstream's
  float64 evaluation differs from that only where 100 * std is an integer up to
  float rounding.
- NodeResourcesFit RequestedToCapacityRatio (math.Round of the weighted mean): 0.
- ImageLocality (float spread scaling): at most 1 (IMAGE_MAX_DEVIATION).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.image_locality import ImageLocality
from policies.node_resources.balanced_allocation import NodeResourcesBalancedAllocation
from policies.node_resources.fit import NodeResourcesFit
from tests.helpers import make_pod, make_view

BALANCED_MAX_DEVIATION = 1
RTCR_MAX_DEVIATION = 0
IMAGE_MAX_DEVIATION = 1

GPU = "example.com/gpu"
MB = 1024 * 1024
SETTINGS = settings(max_examples=120, deadline=None)

# memory reaches 2^50 so the exact big-integer path of the ratios is exercised too
amounts = {
    "cpu": st.integers(0, 256_000),
    "memory": st.integers(0, 2**50),
    "ephemeral-storage": st.integers(0, 2**42),
    GPU: st.integers(0, 16),
}


@st.composite
def resource_map(draw, optional=True):
    out = {}
    for name, strategy in amounts.items():
        if optional and draw(st.booleans()):
            continue
        value = draw(strategy)
        out[name] = f"{value}m" if name == "cpu" else str(value)
    return out


@st.composite
def clusters(draw, max_nodes=6):
    count = draw(st.integers(1, max_nodes))
    nodes, pods = [], []
    for i in range(count):
        alloc = draw(resource_map(optional=False))
        if draw(st.booleans()):
            alloc.pop(GPU)
        alloc["pods"] = "110"
        nodes.append(
            {"kind": "Node", "metadata": {"name": f"n{i}"}, "status": {"allocatable": alloc}}
        )
        for j in range(draw(st.integers(0, 2))):
            containers = [
                {"name": "c", "image": "x", "resources": {"requests": draw(resource_map())}}
            ]
            pods.append(
                {
                    "kind": "Pod",
                    "metadata": {"name": f"e{i}-{j}", "namespace": "d"},
                    "spec": {"nodeName": f"n{i}", "containers": containers},
                }
            )
    return nodes, pods


@st.composite
def incoming_pods(draw):
    containers = [
        {"name": f"c{k}", "image": "x", "resources": {"requests": draw(resource_map())}}
        for k in range(draw(st.integers(0, 2)))
    ]
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "d"},
        "spec": {"containers": containers},
    }


ALL_RESOURCES = [
    {"name": n, "weight": w}
    for n, w in (("cpu", 1), ("memory", 2), ("ephemeral-storage", 3), (GPU, 4))
]
shapes = st.lists(
    st.tuples(st.integers(0, 100), st.integers(0, 10)),
    min_size=1,
    max_size=5,
    unique_by=lambda p: p[0],
).map(lambda pts: [{"utilization": u, "score": s} for u, s in sorted(pts)])


def _fit(kind, shape=None):
    strategy = {"type": kind, "resources": ALL_RESOURCES}
    if shape is not None:
        strategy["requestedToCapacityRatio"] = {"shape": shape}
    return NodeResourcesFit({"scoringStrategy": strategy})


@SETTINGS
@given(clusters(), incoming_pods(), shapes)
def test_every_score_is_an_integer_in_0_to_100(cluster, incoming, shape):
    view = make_view(*cluster)
    pod = make_pod(incoming)
    policies = [
        _fit("LeastAllocated"),
        _fit("MostAllocated"),
        _fit("RequestedToCapacityRatio", shape),
        NodeResourcesFit({}),
        NodeResourcesBalancedAllocation({}),
        NodeResourcesBalancedAllocation(
            {"resources": [{"name": r["name"]} for r in ALL_RESOURCES]}
        ),
        ImageLocality({}),
    ]
    for policy in policies:
        scores = policy.score(pod, view)
        assert scores.dtype == np.int64
        assert scores.shape == (view.n,)
        assert ((scores >= 0) & (scores <= 100)).all(), (policy.name, scores)


@SETTINGS
@given(clusters(), st.integers(0, 64_000), st.integers(0, 64_000), st.integers(0, 2**36))
def test_least_allocated_non_increasing_and_most_allocated_non_decreasing(
    cluster, cpu_a, cpu_b, memory
):
    view = make_view(*cluster)
    low, high = sorted((cpu_a, cpu_b))

    def pod(cpu):
        requests = {"cpu": f"{cpu}m", "memory": str(memory)}
        return make_pod(
            {
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {
                    "containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}]
                },
            }
        )

    for kind, sign in (("LeastAllocated", 1), ("MostAllocated", -1)):
        policy = _fit(kind)
        small, large = policy.score(pod(low), view), policy.score(pod(high), view)
        assert (sign * (small - large) >= 0).all(), (kind, small, large)


# ---------------------------------------------------------------------------
# Upstream float formulas as references


def _max_deviation(ours: list[int], reference: list[int]) -> int:
    return max(abs(a - b) for a, b in zip(ours, reference, strict=True))


def _go_round(x: float) -> int:
    """Go's math.Round: half away from zero, exact on the float given."""
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        t += math.copysign(1, x)
    return int(t)


def _go_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _columns(view, pod, names, use_requested):
    """Per node: list of (requested, allocatable) as upstream's resourceAllocationScorer."""
    rows = [[] for _ in range(view.n)]
    for name in names:
        request = pod.requests.get(name, 0)
        if not use_requested and name == "cpu":
            request = pod.nonzero_cpu
        if not use_requested and name == "memory":
            request = pod.nonzero_memory
        if name == GPU and request == 0:
            continue
        used = (
            view.requested(name)
            if use_requested or name not in ("cpu", "memory")
            else view.nonzero_requested(name)
        )
        alloc = view.allocatable(name)
        for i in range(view.n):
            if int(alloc[i]) != 0:
                rows[i].append((int(used[i]) + request, int(alloc[i])))
    return rows


def upstream_balanced(view, pod, names) -> list[int]:
    if not any(pod.requests.get(n, 0) for n in names):
        return [0] * view.n
    out = []
    for row in _columns(view, pod, names, True):
        fractions = [min(float(r) / float(a), 1.0) for r, a in row]
        std = 0.0
        if len(fractions) == 2:
            std = abs((fractions[0] - fractions[1]) / 2)
        elif len(fractions) > 2:
            total = 0.0
            for f in fractions:
                total += f
            mean = total / float(len(fractions))
            acc = 0.0
            for f in fractions:
                acc = acc + (f - mean) * (f - mean)
            std = math.sqrt(acc / float(len(fractions)))
        out.append(int((1 - std) * float(100)))
    return out


def exact_balanced(view, pod, names) -> list[int]:
    """(1 - std) * 100 truncated, in exact rationals (the value podsift computes)."""
    if not any(pod.requests.get(n, 0) for n in names):
        return [0] * view.n
    out = []
    for row in _columns(view, pod, names, True):
        fractions = [min(Fraction(r, a), Fraction(1)) for r, a in row]
        n = len(fractions)
        if n < 2:
            out.append(100)
            continue
        mean = sum(fractions, Fraction(0)) / n
        variance = sum(((f - mean) ** 2 for f in fractions), Fraction(0)) / n
        # largest s with s <= 100 - 100 std  <=>  (100 - s)^2 >= 10000 variance, s <= 100
        s = 100
        while (100 - s) ** 2 < 10000 * variance:
            s -= 1
        out.append(s)
    return out


def upstream_rtcr(view, pod, resources, shape) -> list[int]:
    points = [(p["utilization"], p["score"] * 10) for p in shape]

    def raw(p):
        for i, (u, s) in enumerate(points):
            if p <= u:
                if i == 0:
                    return points[0][1]
                pu, ps = points[i - 1]
                return ps + _go_div((s - ps) * (p - pu), u - pu)
        return points[-1][1]

    weights = {r["name"]: r["weight"] for r in resources}
    out = []
    for row_names in _rows_with_names(view, pod, [r["name"] for r in resources]):
        node_score = weight_sum = 0
        for name, req, cap in row_names:
            util = 100 if req >= cap else req * 100 // cap
            score = raw(util)
            if score > 0:
                node_score += score * weights[name]
                weight_sum += weights[name]
        out.append(0 if weight_sum == 0 else _go_round(float(node_score) / float(weight_sum)))
    return out


def _rows_with_names(view, pod, names):
    rows = [[] for _ in range(view.n)]
    for name in names:
        single = _columns(view, pod, [name], False)
        for i, row in enumerate(single):
            rows[i].extend((name, r, a) for r, a in row)
    return rows


@SETTINGS
@given(clusters(max_nodes=8), incoming_pods(), st.booleans())
def test_balanced_allocation_within_stated_deviation_of_upstream_float(cluster, incoming, three):
    view = make_view(*cluster)
    pod = make_pod(incoming)
    names = ["cpu", "memory"] + (["ephemeral-storage", GPU] if three else [])
    policy = NodeResourcesBalancedAllocation({"resources": [{"name": n} for n in names]})
    ours = policy.score(pod, view).tolist()
    reference = upstream_balanced(view, pod, names)
    assert _max_deviation(ours, reference) <= BALANCED_MAX_DEVIATION, (ours, reference)
    assert ours == exact_balanced(view, pod, names)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**6),
            st.integers(0, 10**6),
            st.integers(1, 10**6),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_balanced_two_resources_many_fractions(rows):
    # many nodes per example: cpu (millicores) and memory fractions anywhere in [0, 1.x];
    # small enough for the exact common-denominator path, and (memory in units of 10^9
    # bytes) large enough for the fixed-point one
    _check_two_resources(rows, 1)
    _check_two_resources(rows, 10**9)


def _check_two_resources(rows, memory_unit):
    nodes, pods = [], []
    for i, (cpu_alloc, cpu_used, mem_alloc, mem_used) in enumerate(rows):
        mem_alloc, mem_used = mem_alloc * memory_unit, mem_used * memory_unit
        nodes.append(
            {
                "kind": "Node",
                "metadata": {"name": f"n{i}"},
                "status": {
                    "allocatable": {"cpu": f"{cpu_alloc}m", "memory": str(mem_alloc), "pods": "110"}
                },
            }
        )
        pods.append(
            {
                "kind": "Pod",
                "metadata": {"name": f"e{i}"},
                "spec": {
                    "nodeName": f"n{i}",
                    "containers": [
                        {
                            "name": "c",
                            "resources": {
                                "requests": {"cpu": f"{cpu_used}m", "memory": str(mem_used)}
                            },
                        }
                    ],
                },
            }
        )
    view = make_view(nodes, pods)
    pod = make_pod(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1m"}}}]},
        }
    )
    ours = NodeResourcesBalancedAllocation({}).score(pod, view).tolist()
    reference = upstream_balanced(view, pod, ["cpu", "memory"])
    assert _max_deviation(ours, reference) <= BALANCED_MAX_DEVIATION
    assert ours == exact_balanced(view, pod, ["cpu", "memory"])


@SETTINGS
@given(clusters(), incoming_pods(), shapes)
def test_requested_to_capacity_ratio_equals_upstream_float_rounding(cluster, incoming, shape):
    view = make_view(*cluster)
    pod = make_pod(incoming)
    ours = _fit("RequestedToCapacityRatio", shape).score(pod, view).tolist()
    reference = upstream_rtcr(view, pod, ALL_RESOURCES, shape)
    assert _max_deviation(ours, reference) <= RTCR_MAX_DEVIATION


@SETTINGS
@given(
    st.lists(st.lists(st.integers(0, 3), max_size=4), min_size=1, max_size=8),
    st.lists(st.integers(1, 4000 * MB), min_size=4, max_size=4),
    st.lists(st.integers(0, 3), min_size=1, max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
def test_image_locality_within_stated_deviation_of_upstream_float(holdings, sizes, want, init):
    names = [f"reg.io/img{k}:latest" for k in range(4)]
    nodes = []
    for i, held in enumerate(holdings):
        images = [{"names": [names[k]], "sizeBytes": sizes[k] + i} for k in sorted(set(held))]
        nodes.append(
            {
                "kind": "Node",
                "metadata": {"name": f"n{i}"},
                "status": {"allocatable": {"pods": "1"}, "images": images},
            }
        )
    view = make_view(nodes)
    incoming = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": f"c{k}", "image": names[k]} for k in want],
            "initContainers": [{"name": f"i{k}", "image": names[k]} for k in init],
        },
    }
    ours = ImageLocality({}).score(make_pod(incoming), view).tolist()

    total = len(nodes)
    reference = []
    for i, held in enumerate(holdings):
        acc = 0
        for k in list(init) + list(want):
            if k in held:
                have = sum(1 for h in holdings if k in h)
                acc += int(float(sizes[k] + i) * (float(have) / float(total)))
        containers = len(init) + len(want)
        top = 1000 * MB * containers
        acc = min(max(acc, 23 * MB), top)
        reference.append(100 * (acc - 23 * MB) // (top - 23 * MB))
    assert _max_deviation(ours, reference) <= IMAGE_MAX_DEVIATION


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 2**63 - 1), st.integers(0, 2**63 - 1)), min_size=1, max_size=20
    ),
    st.sampled_from([100, 1 << 20, 1 << 24, 1000]),
)
def test_scaled_ratio_is_exact_on_every_path(pairs, scale):
    from policies.helper.intmath import scaled_ratio_rem

    dens = [d for d, _ in pairs]
    nums = [n % (d + 1) for d, n in pairs]  # 0 <= num <= den
    quotient, inexact = scaled_ratio_rem(np.array(nums, np.int64), np.array(dens, np.int64), scale)
    assert quotient.tolist() == [n * scale // d for n, d in zip(nums, dens, strict=True)]
    assert inexact.tolist() == [(n * scale) % d != 0 for n, d in zip(nums, dens, strict=True)]
