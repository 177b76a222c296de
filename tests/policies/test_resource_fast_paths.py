"""The resource scores' fast paths, and the allocatable bounds they rest on.

NodeResourcesFit (LeastAllocated, MostAllocated) and BalancedAllocation skip
their per-node checks when the view's `allocatable_bounds` say every candidate
has every scored resource and no product can wrap. The bounds are kept by the
node table until a node object changes. Here: the scores equal an exact
per-node reference in Python integers on both paths (clusters where every node
has every resource, and clusters where some lack one), on views of the cache
and of full Node objects alike; and the kept bounds equal a fresh minimum and
maximum over random interleavings of node arrivals, updates and removals.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.testing import make_objects_view
from policies.node_resources.allocation import pod_request
from policies.node_resources.balanced_allocation import (
    NodeResourcesBalancedAllocation,
    exact_penalty,
)
from policies.node_resources.fit import NodeResourcesFit
from tests.helpers import make_pod, make_state, make_view

GPU = "example.com/gpu"
SETTINGS = settings(max_examples=150, deadline=None)
RESOURCES = ("cpu", "memory", "ephemeral-storage", GPU)


@st.composite
def clusters(draw):
    """Nodes and their pods; with `full`, every node has every resource (> 0)."""
    full = draw(st.booleans())
    low = 1 if full else 0
    nodes, pods = [], []
    for i in range(draw(st.integers(1, 6))):
        alloc = {
            "cpu": f"{draw(st.integers(low, 64_000))}m",
            "memory": str(draw(st.integers(low, 2**40))),
            "ephemeral-storage": str(draw(st.integers(low, 2**40))),
            "pods": "110",
        }
        if full or draw(st.booleans()):
            alloc[GPU] = str(draw(st.integers(low, 8)))
        nodes.append(
            {"kind": "Node", "metadata": {"name": f"n{i}"}, "status": {"allocatable": alloc}}
        )
        for j in range(draw(st.integers(0, 2))):
            pods.append(_pod(f"e{i}-{j}", draw(requests()), node=f"n{i}"))
    return nodes, pods


@st.composite
def requests(draw):
    out = {}
    for name, top in (("cpu", 80_000), ("memory", 2**41), ("ephemeral-storage", 2**41), (GPU, 9)):
        if draw(st.booleans()):
            value = draw(st.integers(0, top))
            out[name] = f"{value}m" if name == "cpu" else str(value)
    return out


def _pod(name, requests, node=None):
    spec = {"containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}]}
    if node is not None:
        spec["nodeName"] = node
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "d"}, "spec": spec}


weights = st.lists(
    st.tuples(st.sampled_from(RESOURCES), st.integers(1, 5)),
    min_size=1,
    max_size=4,
    unique_by=lambda p: p[0],
)


def _views(cluster):
    nodes, pods = cluster
    return [make_view(nodes, pods), make_objects_view(nodes, pods)]


def _shares(pod, view, resources, use_requested):
    """Per node, (weight, used incl. the pod, allocatable) of each scored resource it has."""
    rows = [[] for _ in range(view.n)]
    for name, weight in resources:
        request = pod_request(pod, name, use_requested)
        if name == GPU and request == 0:
            continue
        if name in ("cpu", "memory") and not use_requested:
            used = view.nonzero_requested(name)
        else:
            used = view.requested(name)
        alloc = view.allocatable(name)
        for i in range(view.n):
            if int(alloc[i]) > 0:
                rows[i].append((weight, int(used[i]) + request, int(alloc[i])))
    return rows


def _fit_reference(pod, view, resources, least):
    out = []
    for row in _shares(pod, view, resources, False):
        total = weight_sum = 0
        for weight, used, alloc in row:
            if least:
                part = 0 if used > alloc else (alloc - used) * 100 // alloc
            else:
                part = min(used, alloc) * 100 // alloc
            total += part * weight
            weight_sum += weight
        out.append(total // weight_sum if weight_sum else 0)
    return out


@SETTINGS
@given(clusters(), requests(), weights, st.booleans())
def test_fit_least_and_most_allocated_equal_the_per_node_reference(cluster, wanted, res, least):
    kind = "LeastAllocated" if least else "MostAllocated"
    policy = NodeResourcesFit(
        {
            "scoringStrategy": {
                "type": kind,
                "resources": [{"name": n, "weight": w} for n, w in res],
            }
        }
    )
    pod = make_pod(_pod("p", wanted))
    for view in _views(cluster):
        expected = _fit_reference(pod, view, res, least)
        assert policy.score(pod, view).tolist() == expected
        # and over a part of the candidates (the engine scores the passing ones)
        part = view.subset(np.arange(0, view.n, 2))
        assert policy.score(pod, part).tolist() == expected[::2]


@SETTINGS
@given(clusters(), requests(), st.booleans())
def test_balanced_allocation_equals_the_exact_per_node_reference(cluster, wanted, three):
    res = [("cpu", 1), ("memory", 1)] + ([("ephemeral-storage", 1)] if three else [])
    policy = NodeResourcesBalancedAllocation(
        {"resources": [{"name": n, "weight": w} for n, w in res]}
    )
    pod = make_pod(_pod("p", wanted))
    for view in _views(cluster):
        if not any(pod_request(pod, n, True) for n, _ in res):
            expected = [0] * view.n  # best effort: upstream skips the plugin
        else:
            expected = []
            for row in _shares(pod, view, res, True):
                shares = [(min(used, alloc), alloc) for _, used, alloc in row]
                expected.append(100 - (exact_penalty(shares) if len(shares) >= 2 else 0))
        assert policy.score(pod, view).tolist() == expected


node_events = st.lists(
    st.tuples(
        st.sampled_from(["apply", "apply", "remove"]),
        st.integers(0, 5),
        st.integers(0, 3000),
        st.integers(0, 2**40),
        st.one_of(st.none(), st.integers(0, 8)),
    ),
    min_size=1,
    max_size=30,
)


@SETTINGS
@given(node_events)
def test_kept_allocatable_bounds_equal_fresh_ones_over_node_changes(events):
    state = make_state([])
    for action, i, cpu, memory, gpu in events:
        name = f"n{i}"
        if action == "remove":
            state.remove_node(name)
        else:
            alloc = {"cpu": f"{cpu}m", "memory": str(memory), "pods": "110"}
            if gpu is not None:
                alloc[GPU] = str(gpu)
            state.apply_node(
                {"kind": "Node", "metadata": {"name": name}, "status": {"allocatable": alloc}}
            )
        names = sorted(state.table.id_of)
        view, _, _ = state.view(names)
        for resource in ("cpu", "memory", "pods", GPU, "example.com/none"):
            column = view.allocatable(resource).tolist()
            fresh = (min(column), max(column)) if column else (0, 0)
            assert view.allocatable_bounds(resource) == fresh, resource
            # a part of the nodes: the bounds hold (they are the cluster's)
            low, high = view.allocatable_bounds(resource)
            part = view.subset(np.arange(0, view.n, 2))
            assert all(low <= v <= high for v in part.allocatable(resource).tolist())


@SETTINGS
@given(
    clusters(),
    st.lists(requests(), min_size=1, max_size=4),
    st.lists(st.integers(0, 3), min_size=1, max_size=12),
    weights,
    st.booleans(),
)
def test_kept_scoring_plans_equal_allocation_columns(cluster, specs, order, res, use_requested):
    """ScoredResources keeps per pod spec what allocation_columns works out per call:
    pods of a few specs in random order (several pods sharing a spec's parse) get
    the same columns from the kept plan as from the uncached function."""
    from extender.model.pod import parse_pod
    from policies.node_resources.allocation import (
        ResourceSpec,
        ScoredResources,
        allocation_columns,
    )

    resources = [ResourceSpec(n, w) for n, w in res]
    scored = ScoredResources(resources, use_requested)
    view = _views(cluster)[0]
    for k, i in enumerate(order):
        obj = _pod(f"p{k}", specs[i % len(specs)])
        obj["metadata"]["uid"] = f"u{k}"
        pod = parse_pod(obj)
        kept = scored.columns(pod, view)
        fresh = allocation_columns(pod, view, resources, use_requested)
        assert [(c.name, c.weight) for c in kept] == [(c.name, c.weight) for c in fresh]
        for a, b in zip(kept, fresh, strict=True):
            assert a.allocatable.tolist() == b.allocatable.tolist()
            assert a.used.tolist() == b.used.tolist()
        assert scored.requests_any(pod) == any(
            pod_request(pod, r.name, True) for r in resources
        )


def test_floor_div_by_a_power_of_two_shifts_as_floor_division():
    """The weighted mean's division: a shift for powers of two, the same floor
    (negative values included, though scores never are)."""
    from policies.node_resources.fit import _floor_div

    values = np.array([-(2**62), -7, -2, -1, 0, 1, 2, 7, 99, 2**62], np.int64)
    for divisor in (1, 2, 3, 4, 5, 6, 8, 10, 16, 1024):
        assert _floor_div(values.copy(), divisor).tolist() == (values // divisor).tolist()


@SETTINGS
@given(clusters(), requests(), st.booleans())
def test_scores_compute_in_place_into_their_own_arrays_only(cluster, wanted, least):
    """The scores compute into the fresh `used` arrays ScoredResources hands out:
    the view's shared columns stay as they were, and asking again on the same
    view (its columns cached) gives the same answer."""
    kind = "LeastAllocated" if least else "MostAllocated"
    fit = NodeResourcesFit({"scoringStrategy": {"type": kind}})
    balanced = NodeResourcesBalancedAllocation()
    pod = make_pod(_pod("p", wanted))
    for view in _views(cluster):
        before = {
            r: (
                view.allocatable(r).tolist(),
                view.requested(r).tolist(),
                view.nonzero_requested(r).tolist(),
            )
            for r in ("cpu", "memory")
        }
        first = (fit.score(pod, view).tolist(), balanced.score(pod, view).tolist())
        second = (fit.score(pod, view).tolist(), balanced.score(pod, view).tolist())
        assert first == second
        for r, columns in before.items():
            assert (
                view.allocatable(r).tolist(),
                view.requested(r).tolist(),
                view.nonzero_requested(r).tolist(),
            ) == columns
