"""Property tests for PodTopologySpread against a naive recount from all pods.

The reference below walks every placed pod of a random cluster, as upstream's
PreFilter does, and decides each DoNotSchedule constraint for every node:
podsift's filter must agree exactly, so a placement it accepts never breaks a
hard constraint. A second property drives the cache through adds, binds,
relabels, removals and terminations, and checks the incrementally kept counts
against a recount after every step.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.state import ClusterState
from extender.model.pod import parse_pod
from extender.model.podselector import compile_pod_selector
from extender.testing import run_filter
from policies.pod_topology_spread import PodTopologySpread

SETTINGS = settings(max_examples=150, deadline=None)
ZONES = ["z1", "z2", "z3", None]  # None: the node lacks the label
APPS = ["a", "b"]
SELECTORS = [
    {"matchLabels": {"app": "a"}},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
    {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["b"]}]},
]


def node(i: int, zone: str | None, tier: bool, tainted: bool) -> dict:
    labels = {"kubernetes.io/hostname": f"n{i}"}
    if zone is not None:
        labels["zone"] = zone
    if tier:
        labels["tier"] = "x"
    taints = [{"key": "k", "effect": "NoSchedule"}] if tainted else []
    return {
        "kind": "Node",
        "metadata": {"name": f"n{i}", "labels": labels},
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}},
    }


def pod(name: str, node_name: str, app: str, ns: str, terminating: bool, spec: dict | None = None):
    meta = {"name": name, "namespace": ns, "uid": f"u-{name}", "labels": {"app": app}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body = {"containers": [{"name": "c"}], **(spec or {})}
    if node_name:
        body["nodeName"] = node_name
    return {"kind": "Pod", "metadata": meta, "spec": body}


clusters = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.lists(
            st.tuples(st.sampled_from(ZONES), st.booleans(), st.booleans()), min_size=n, max_size=n
        ),
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.sampled_from(APPS),
                st.sampled_from(["default", "other"]),
                st.sampled_from([False, False, False, True]),  # terminating
            ),
            max_size=25,
        ),
    )
)
constraints = st.lists(
    st.tuples(
        st.sampled_from(["zone", "kubernetes.io/hostname"]),
        st.integers(1, 3),
        st.sampled_from(range(len(SELECTORS))),
        st.sampled_from([None, 1, 2, 4]),
        st.sampled_from([None, "Honor", "Ignore"]),
        st.sampled_from([None, "Honor", "Ignore"]),
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda c: c[0],
)


def naive_allowed(nodes, pods, incoming, constraints_spec, node_selector) -> dict[str, bool]:
    """Upstream's PreFilter + Filter, written out by walking every pod."""
    labels_of = {n["metadata"]["name"]: n["metadata"]["labels"] for n in nodes}
    tainted = {n["metadata"]["name"]: bool(n["spec"]["taints"]) for n in nodes}
    keys = [c[0] for c in constraints_spec]
    allowed = {name: True for name in labels_of}
    decided = set()
    for key, skew, sel_i, min_domains, affinity, taints in constraints_spec:
        selector, _ = compile_pod_selector(SELECTORS[sel_i], "s")
        counts: dict[str, int] = {}
        for name, labels in labels_of.items():
            if not all(k in labels for k in keys):
                continue
            if affinity != "Ignore" and node_selector and labels.get("tier") != "x":
                continue
            if taints == "Honor" and tainted[name]:
                continue
            value = labels[key]
            counts.setdefault(value, 0)
            for p in pods:
                meta = p["metadata"]
                if (
                    p["spec"].get("nodeName") == name
                    and meta["namespace"] == "default"
                    and "deletionTimestamp" not in meta
                    and selector.matches(meta["labels"])
                ):
                    counts[value] += 1
        minimum = min(counts.values()) if counts else 0
        if len(counts) < (min_domains or 1):
            minimum = 0
        self_match = 1 if selector.matches(incoming["metadata"]["labels"]) else 0
        for name, labels in labels_of.items():
            if name in decided:
                continue
            if key not in labels:
                allowed[name] = False
                decided.add(name)
            elif counts.get(labels[key], 0) + self_match - minimum > skew:
                allowed[name] = False
                decided.add(name)
    return allowed


@SETTINGS
@given(clusters, constraints, st.sampled_from(APPS), st.booleans())
def test_filter_agrees_with_a_naive_recount(cluster, constraints_spec, app, node_selector):
    node_specs, pod_specs = cluster
    nodes = [node(i, *spec) for i, spec in enumerate(node_specs)]
    pods = [pod(f"p{j}", f"n{i}", a, ns, term) for j, (i, a, ns, term) in enumerate(pod_specs)]
    spread = []
    for key, skew, sel_i, min_domains, affinity, taints in constraints_spec:
        c = {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": SELECTORS[sel_i],
        }
        if min_domains is not None:
            c["minDomains"] = min_domains
        if affinity:
            c["nodeAffinityPolicy"] = affinity
        if taints:
            c["nodeTaintsPolicy"] = taints
        spread.append(c)
    extra = {"topologySpreadConstraints": spread}
    if node_selector:
        extra["nodeSelector"] = {"tier": "x"}
    incoming = pod("new", "", app, "default", False, extra)
    state = ClusterState()
    state.load_items(nodes + pods)
    view = state.view([n["metadata"]["name"] for n in nodes])[0]
    got = run_filter(PodTopologySpread({}), parse_pod(incoming), view)
    want = naive_allowed(nodes, pods, incoming, constraints_spec, node_selector)
    assert {name: not reason for name, reason in got.items()} == want


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "relabel", "terminate", "bind"]),
        st.integers(0, 11),  # pod
        st.integers(0, 3),  # node
        st.sampled_from(APPS + ["z1", "z2"]),
    ),
    max_size=40,
)


@SETTINGS
@given(operations)
def test_counts_stay_equal_to_a_recount(ops):
    state = ClusterState()
    nodes = [node(i, ["z1", "z2", None, "z1"][i], False, False) for i in range(4)]
    state.load_items(nodes)
    selector, _ = compile_pod_selector(SELECTORS[1], "s")
    truth: dict[str, tuple[str, str, bool]] = {}  # uid -> (node, app, terminating)
    zone_of = {f"n{i}": ["z1", "z2", None, "z1"][i] for i in range(4)}
    for step, (op, p, n, value) in enumerate(ops):
        uid = f"u-p{p}"
        if op == "add" and value in APPS:
            state.apply_pod(pod(f"p{p}", f"n{n}", value, "default", False))
            truth[uid] = (f"n{n}", value, False)
        elif op == "remove":
            state.remove_pod(uid)
            truth.pop(uid, None)
        elif op == "terminate" and uid in truth:
            node_name, app, _ = truth[uid]
            state.apply_pod(pod(f"p{p}", node_name, app, "default", True))
            truth[uid] = (node_name, app, True)
        elif op == "relabel" and value in ("z1", "z2"):
            state.apply_node(node(n, value, False, False))
            zone_of[f"n{n}"] = value
        elif op == "bind" and uid not in truth and value in APPS:
            pending = pod(f"p{p}", "", value, "default", False)
            state.apply_pod(pending)
            state.bind(uid, f"n{n}")
            truth[uid] = (f"n{n}", value, False)
        view = state.view([f"n{i}" for i in range(4)])[0]
        per_node = view.matching_pods("default", selector).tolist()
        want_node = [
            sum(1 for nd, a, t in truth.values() if nd == f"n{i}" and not t) for i in range(4)
        ]
        assert per_node == want_node, step
        domains = view.domain_ids("zone").tolist()
        counts = view.domain_counts("default", selector, "zone")
        for i, d in enumerate(domains):
            if d >= 0:
                want = sum(
                    1 for nd, a, t in truth.values() if zone_of[nd] == zone_of[f"n{i}"] and not t
                )
                assert int(counts[d]) == want, step


@SETTINGS
@given(clusters, constraints, st.sampled_from(APPS), st.booleans(), st.randoms())
def test_preemption_view_agrees_with_a_recount_without_each_nodes_victims(
    cluster, constraints_spec, app, node_selector, rng
):
    """/preempt's one engine pass: candidate i is judged without its own victims only."""
    import numpy as np

    from extender.cache.whatif import WhatIfView

    node_specs, pod_specs = cluster
    nodes = [node(i, *spec) for i, spec in enumerate(node_specs)]
    pods = [pod(f"p{j}", f"n{i}", a, ns, term) for j, (i, a, ns, term) in enumerate(pod_specs)]
    spread = [
        {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": SELECTORS[sel_i],
            **({"minDomains": min_domains} if min_domains else {}),
            **({"nodeAffinityPolicy": affinity} if affinity else {}),
            **({"nodeTaintsPolicy": taints} if taints else {}),
        }
        for key, skew, sel_i, min_domains, affinity, taints in constraints_spec
    ]
    extra = {"topologySpreadConstraints": spread}
    if node_selector:
        extra["nodeSelector"] = {"tier": "x"}
    incoming = pod("new", "", app, "default", False, extra)
    state = ClusterState()
    state.load_items(nodes + pods)
    names = [n["metadata"]["name"] for n in nodes]
    chosen = {
        name: [p for p in pods if p["spec"]["nodeName"] == name and rng.random() < 0.5]
        for name in names
    }
    records = [[state.pods[p["metadata"]["uid"]] for p in chosen[name]] for name in names]
    ids = np.array([state.table.id_of[name] for name in names], np.int64)
    view = WhatIfView(state.table, ids, records)
    got = run_filter(PodTopologySpread({}), parse_pod(incoming), view)
    for name in names:
        gone = {p["metadata"]["uid"] for p in chosen[name]}
        rest = [p for p in pods if p["metadata"]["uid"] not in gone]
        want = naive_allowed(nodes, rest, incoming, constraints_spec, node_selector)[name]
        assert (not got[name]) == want, name
