"""Caches keyed by the identity of what a pod's spec and labels parse into.

PodTopologySpread keeps a pod's resolved constraints by (id(spread), kind,
id(labels)), and the affinity index keeps the carried terms matching a pod by
(id(labels), namespace): a spec's pods share its parsed `spread`, and labels are
interned per label set, so the pods of a Deployment hit without hashing their
labels. Each property below drives one long-lived state and policy through a
random interleaving of binds, removals, namespace relabels and requests of a
few recurring pods, and requires every answer to equal that of a fresh state
and policy built from the same objects (nothing kept).
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.state import ClusterState
from policies.inter_pod_affinity import InterPodAffinity
from policies.pod_topology_spread import PodTopologySpread
from tests.helpers import make_pod
from tests.policies.test_inter_pod_affinity_properties import NAMESPACES, scored_pods
from tests.policies.test_inter_pod_affinity_properties import clusters as affinity_clusters

SETTINGS = settings(max_examples=120, deadline=None)


def _answers(policy, state, names, incoming):
    view, _, _ = state.view(names)
    pod = make_pod(copy.deepcopy(incoming))  # parsed again, as a new request's pod is
    return policy.filter(pod, view).tolist(), policy.score(pod, view).tolist()


def _fresh(items, names, incoming, build):
    state = ClusterState()
    state.load_items(copy.deepcopy(items))
    return _answers(build(), state, names, incoming)


affinity_steps = st.lists(
    st.tuples(st.sampled_from(["place", "remove", "relabel", "ask", "ask"]), st.integers(0, 9)),
    min_size=1,
    max_size=14,
)


@SETTINGS
@given(st.data(), affinity_steps)
def test_inter_pod_affinity_kept_by_label_identity_equals_fresh(data, steps):
    nodes, _ = data.draw(affinity_clusters())
    names = [n["metadata"]["name"] for n in nodes]
    pool = data.draw(st.lists(scored_pods(), min_size=1, max_size=3))
    namespaces = {
        name: {"kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}
        for name, labels in NAMESPACES.items()
    }
    state = ClusterState()
    state.load_items(nodes + list(copy.deepcopy(namespaces).values()))
    policy = InterPodAffinity()
    placed: dict[str, dict] = {}
    for k, (action, i) in enumerate(steps):
        if action == "place":
            p = data.draw(scored_pods(placed_on=names))
            p["metadata"] = {**p["metadata"], "name": f"x{k}", "uid": f"x{k}"}
            placed[f"x{k}"] = p
            state.apply_pod(copy.deepcopy(p))
        elif action == "remove" and placed:
            uid = sorted(placed)[i % len(placed)]
            del placed[uid]
            state.remove_pod(uid)
        elif action == "relabel":
            name = sorted(namespaces)[i % len(namespaces)]
            ns = namespaces[name]
            ns["metadata"]["labels"] = {"team": ["a", "b", "c"][i % 3]}
            state.apply_namespace(copy.deepcopy(ns))
        elif action == "ask":
            incoming = pool[i % len(pool)]
            items = nodes + list(namespaces.values()) + list(placed.values())
            kept = _answers(policy, state, names, incoming)
            assert kept == _fresh(items, names, incoming, InterPodAffinity)


ZONES = ["z1", "z2", None]


def _node(i, zone):
    labels = {"kubernetes.io/hostname": f"n{i}"}
    if zone is not None:
        labels["zone"] = zone
    return {
        "kind": "Node",
        "metadata": {"name": f"n{i}", "labels": labels},
        "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}},
    }


def _spread_pod(name, labels, keys, node=None):
    constraints = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "a"}},
            **({"matchLabelKeys": ["v"]} if match else {}),
        }
        for key, when, match in keys
    ]
    spec = {"containers": [{"name": "c"}], "topologySpreadConstraints": constraints}
    if node is not None:
        spec["nodeName"] = node
    meta = {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": labels}
    return {"kind": "Pod", "metadata": meta, "spec": spec}


label_choices = st.fixed_dictionaries(
    {"app": st.sampled_from(["a", "b"])}, optional={"v": st.sampled_from(["1", "2"])}
)
spread_specs = st.lists(
    st.tuples(
        st.sampled_from(["zone", "kubernetes.io/hostname"]),
        st.sampled_from(["DoNotSchedule", "ScheduleAnyway"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda c: c[0],
)


@SETTINGS
@given(
    st.lists(st.sampled_from(ZONES), min_size=2, max_size=6),
    st.lists(spread_specs, min_size=1, max_size=2),
    st.lists(label_choices, min_size=1, max_size=3),
    st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, 9)), max_size=16),
)
def test_pod_topology_spread_kept_by_identity_equals_fresh(zones, specs, label_pool, steps):
    nodes = [_node(i, z) for i, z in enumerate(zones)]
    names = [n["metadata"]["name"] for n in nodes]
    state = ClusterState()
    state.load_items(copy.deepcopy(nodes))
    policy = PodTopologySpread()
    placed: list[dict] = []
    for k, (ask, i, j) in enumerate(steps):
        labels = dict(label_pool[i % len(label_pool)])
        spec = specs[j % len(specs)]
        if ask:
            incoming = _spread_pod("p", labels, spec)
            kept = _answers(policy, state, names, incoming)
            assert kept == _fresh(nodes + placed, names, incoming, PodTopologySpread)
        else:
            p = _spread_pod(f"x{k}", labels, spec, names[(i + j) % len(names)])
            placed.append(p)
            state.apply_pod(copy.deepcopy(p))


def test_pods_of_one_spec_with_other_label_values_get_their_own_constraints():
    """matchLabelKeys: one spec, so one parsed `spread`; the pods' values of `v`
    differ, so each label set resolves its own selector (the identity key holds
    the labels too)."""
    nodes = [_node(0, "z1"), _node(1, "z2")]
    names = ["n0", "n1"]
    spec = [("zone", "DoNotSchedule", True)]
    placed = [_spread_pod(f"x{k}", {"app": "a", "v": "1"}, spec, "n0") for k in range(2)]
    state = ClusterState()
    state.load_items(copy.deepcopy(nodes + placed))
    policy = PodTopologySpread()
    for v, expected in (("1", [False, True]), ("2", [True, True]), ("1", [False, True])):
        incoming = _spread_pod("p", {"app": "a", "v": v}, spec)
        assert _answers(policy, state, names, incoming)[0] == expected, v
