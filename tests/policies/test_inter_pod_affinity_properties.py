"""InterPodAffinity property: a node the filter accepts breaks no required term.

Against a naive scan of every placed pod, written from the API's definitions
and sharing nothing with podsift's compiled selectors or counts: the incoming
pod's required anti-affinity, every placed pod's required anti-affinity
(symmetry), and the incoming pod's required affinity (with upstream's rule for
the first pod of a group with affinity to itself). Also: a node the naive scan
finds clean is accepted (the filter rejects nothing it should not).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.state import ClusterState
from extender.model.errors import InvalidInput
from policies.inter_pod_affinity import InterPodAffinity
from tests.helpers import make_pod

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
KEYS = ("hostname", "zone")
NAMESPACES = {"default": {"team": "a"}, "ns1": {"team": "b"}, "ns2": {}}

label_sets = st.fixed_dictionaries(
    {},
    optional={"app": st.sampled_from(["web", "db", "cache"]), "tier": st.sampled_from(["x", "y"])},
)

expressions = st.one_of(
    st.builds(
        lambda k, op, vs: {"key": k, "operator": op, "values": vs},
        st.sampled_from(["app", "tier"]),
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(["web", "db", "cache", "x", "y"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda k, op: {"key": k, "operator": op},
        st.sampled_from(["app", "tier"]),
        st.sampled_from(["Exists", "DoesNotExist"]),
    ),
)


@st.composite
def terms(draw):
    term = {
        "labelSelector": {"matchExpressions": draw(st.lists(expressions, min_size=0, max_size=2))},
        "topologyKey": draw(st.sampled_from(KEYS)),
    }
    scope = draw(st.sampled_from(["own", "list", "all", "selector"]))
    if scope == "list":
        term["namespaces"] = draw(st.lists(st.sampled_from(list(NAMESPACES)), max_size=2))
    elif scope == "all":
        term["namespaceSelector"] = {}
    elif scope == "selector":
        term["namespaceSelector"] = {"matchLabels": {"team": draw(st.sampled_from(["a", "b"]))}}
    return term


@st.composite
def pods(draw, placed_on=None):
    spec: dict = {"containers": [{"name": "c"}]}
    if placed_on:
        spec["nodeName"] = draw(st.sampled_from(placed_on))
    affinity = draw(st.lists(terms(), max_size=2))
    anti = draw(st.lists(terms(), max_size=2))
    spec["affinity"] = {
        "podAffinity": {REQUIRED: affinity},
        "podAntiAffinity": {REQUIRED: anti},
    }
    meta = {
        "name": "p",
        "namespace": draw(st.sampled_from(list(NAMESPACES))),
        "labels": draw(label_sets),
    }
    return {"kind": "Pod", "metadata": meta, "spec": spec}


@st.composite
def clusters(draw):
    n = draw(st.integers(1, 6))
    nodes = []
    for i in range(n):
        labels = {"hostname": f"n{i}"}
        zone = draw(st.sampled_from(["z0", "z1", None]))
        if zone:
            labels["zone"] = zone
        nodes.append(
            {
                "kind": "Node",
                "metadata": {"name": f"n{i}", "labels": labels},
                "status": {"allocatable": {"cpu": "8", "pods": "100"}},
            }
        )
    names = [node["metadata"]["name"] for node in nodes]
    placed = draw(st.lists(pods(placed_on=names), max_size=8))
    for i, p in enumerate(placed):
        p["metadata"] = {**p["metadata"], "name": f"p{i}", "uid": f"u{i}"}
    return nodes, placed


# ---- the naive reference ---------------------------------------------------


def naive_selector(selector, labels) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for e in selector.get("matchExpressions") or []:
        op, key, values = e["operator"], e["key"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def naive_term_matches(term, owner_namespace, pod) -> bool:
    namespaces = term.get("namespaces") or []
    ns_selector = term.get("namespaceSelector")
    ns = pod["metadata"]["namespace"]
    if not namespaces and ns_selector is None:
        in_scope = ns == owner_namespace
    else:
        in_scope = ns in namespaces or (
            ns_selector is not None and naive_selector(ns_selector, NAMESPACES.get(ns, {}))
        )
    return in_scope and naive_selector(term.get("labelSelector"), pod["metadata"]["labels"])


def required(pod, kind):
    return pod["spec"]["affinity"][kind][REQUIRED]


def naive_breaks(incoming, node, nodes, placed) -> bool:
    by_name = {n["metadata"]["name"]: n["metadata"]["labels"] for n in nodes}
    here = node["metadata"]["labels"]
    own_ns = incoming["metadata"]["namespace"]

    def same_domain(key, other_node):
        return key in here and by_name[other_node].get(key) == here[key]

    for term in required(incoming, "podAntiAffinity"):
        for p in placed:
            if naive_term_matches(term, own_ns, p) and same_domain(
                term["topologyKey"], p["spec"]["nodeName"]
            ):
                return True
    for p in placed:
        for term in required(p, "podAntiAffinity"):
            if naive_term_matches(term, p["metadata"]["namespace"], incoming) and same_domain(
                term["topologyKey"], p["spec"]["nodeName"]
            ):
                return True
    affinity = required(incoming, "podAffinity")
    if affinity:
        if any(t["topologyKey"] not in here for t in affinity):
            return True
        group = [p for p in placed if all(naive_term_matches(t, own_ns, p) for t in affinity)]
        satisfied = all(
            any(same_domain(t["topologyKey"], p["spec"]["nodeName"]) for p in group)
            for t in affinity
        )
        if not satisfied:
            anywhere = any(
                t["topologyKey"] in by_name[p["spec"]["nodeName"]] for p in group for t in affinity
            )
            first = not anywhere and all(naive_term_matches(t, own_ns, incoming) for t in affinity)
            if not first:
                return True
    return False


def _namespaces():
    return [
        {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        for name, labels in NAMESPACES.items()
    ]


def _check(state, nodes, placed, incoming):
    view, _, _ = state.view([n["metadata"]["name"] for n in nodes])
    accepted = InterPodAffinity().filter(make_pod(incoming), view).tolist()
    for node, ok in zip(nodes, accepted, strict=True):
        assert ok == (not naive_breaks(incoming, node, nodes, placed)), node["metadata"]["name"]


@settings(max_examples=300, deadline=None)
@given(clusters(), pods())
def test_accepted_nodes_break_no_required_term_and_clean_nodes_are_accepted(cluster, incoming):
    nodes, placed = cluster
    state = ClusterState()
    state.load_items(nodes + placed + _namespaces())
    _check(state, nodes, placed, incoming)


@settings(max_examples=150, deadline=None)
@given(clusters(), pods(), st.data())
def test_counts_kept_incrementally_agree_with_the_naive_scan(cluster, incoming, data):
    """The counters exist before the pods arrive (the first filter builds them), so
    every verdict after comes from counts updated pod by pod, and by removals."""
    nodes, placed = cluster
    state = ClusterState()
    state.load_items(nodes + _namespaces())
    _check(state, nodes, [], incoming)
    names = [n["metadata"]["name"] for n in nodes]
    extra = data.draw(st.lists(pods(placed_on=names), max_size=3))
    for i, p in enumerate(extra):
        p["metadata"] = {**p["metadata"], "name": f"x{i}", "uid": f"x{i}"}
    for p in placed + extra:
        state.apply_pod(p)
    _check(state, nodes, placed + extra, incoming)
    for p in extra:
        state.remove_pod(p["metadata"]["uid"])
    _check(state, nodes, placed, incoming)


# ---- scoring ---------------------------------------------------------------------

PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@st.composite
def scored_pods(draw, placed_on=None):
    pod = draw(pods(placed_on=placed_on))
    for kind in ("podAffinity", "podAntiAffinity"):
        weighted = draw(st.lists(st.tuples(st.integers(1, 100), terms()), max_size=2))
        pod["spec"]["affinity"][kind][PREFERRED] = [
            {"weight": w, "podAffinityTerm": t} for w, t in weighted
        ]
    return pod


def naive_raw_score(incoming, node, nodes, placed, hard_weight) -> int:
    """processExistingPod over every placed pod, as upstream's PreScore walks them."""
    by_name = {n["metadata"]["name"]: n["metadata"]["labels"] for n in nodes}
    here = node["metadata"]["labels"]
    own_ns = incoming["metadata"]["namespace"]
    total = 0

    def same_domain(key, other):
        return key in here and by_name[other].get(key) == here[key]

    for p in placed:
        where = p["spec"]["nodeName"]
        for sign, kind in ((1, "podAffinity"), (-1, "podAntiAffinity")):
            for entry in incoming["spec"]["affinity"][kind][PREFERRED]:
                t = entry["podAffinityTerm"]
                if naive_term_matches(t, own_ns, p) and same_domain(t["topologyKey"], where):
                    total += sign * entry["weight"]
            for entry in p["spec"]["affinity"][kind][PREFERRED]:
                t = entry["podAffinityTerm"]
                if naive_term_matches(t, p["metadata"]["namespace"], incoming) and same_domain(
                    t["topologyKey"], where
                ):
                    total += sign * entry["weight"]
        for t in required(p, "podAffinity"):
            if naive_term_matches(t, p["metadata"]["namespace"], incoming) and same_domain(
                t["topologyKey"], where
            ):
                total += hard_weight
    return total


def go_normalize(raw: list[int]) -> list[int]:
    low, high = min(raw), max(raw)
    if high == low:
        return [0] * len(raw)
    return [int(100.0 * ((v - low) / (high - low))) for v in raw]


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(0, 3))
def test_scores_agree_with_a_naive_walk_of_every_placed_pod(data, hard_weight):
    nodes, _ = data.draw(clusters())
    names = [n["metadata"]["name"] for n in nodes]
    placed = data.draw(st.lists(scored_pods(placed_on=names), max_size=8))
    for i, p in enumerate(placed):
        p["metadata"] = {**p["metadata"], "name": f"p{i}", "uid": f"u{i}"}
    incoming = data.draw(scored_pods())
    state = ClusterState()
    state.load_items(nodes + placed + _namespaces())
    view, _, _ = state.view(names)
    policy = InterPodAffinity({"hardPodAffinityWeight": hard_weight})
    got = policy.score(make_pod(incoming), view).tolist()
    raw = [naive_raw_score(incoming, n, nodes, placed, hard_weight) for n in nodes]
    assert got == go_normalize(raw)


# ---- the per-domain path equals the per-candidate one ---------------------------


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(0, 3))
def test_per_domain_sums_agree_with_per_candidate_counts(data, hard_weight):
    """A view whose counts are its domains' (every view but /preempt's) sums the
    terms per domain and gathers once; the per-candidate reading (what /preempt
    uses) must give the same verdicts, reasons and scores, on a random subset of
    candidates in a random order of binds and removals."""
    nodes, _ = data.draw(clusters())
    names = [n["metadata"]["name"] for n in nodes]
    placed = data.draw(st.lists(scored_pods(placed_on=names), max_size=8))
    for i, p in enumerate(placed):
        p["metadata"] = {**p["metadata"], "name": f"p{i}", "uid": f"u{i}"}
    state = ClusterState()
    state.load_items(nodes + _namespaces())
    incoming = make_pod(data.draw(scored_pods()))
    args = {"hardPodAffinityWeight": hard_weight}
    for p in placed:
        state.apply_pod(p)
        if data.draw(st.booleans()):
            state.remove_pod(data.draw(st.sampled_from(placed))["metadata"]["uid"])
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        answers = []
        for by_domain in (True, False):
            view, _, _ = state.view(chosen)
            view.counts_by_domain = by_domain
            policy = InterPodAffinity(args)
            ok = policy.filter(incoming, view)
            failed = np.flatnonzero(~ok)
            reasons = policy.reasons(incoming, view, failed)
            hopeless = policy.unresolvable_mask(incoming, view, failed).tolist()
            try:
                scores = policy.score(incoming, view).tolist()
            except InvalidInput as exc:
                scores = str(exc)
            answers.append((ok.tolist(), reasons, hopeless, scores))
        assert answers[0] == answers[1]
