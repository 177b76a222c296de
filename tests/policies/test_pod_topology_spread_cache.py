"""PodTopologySpread's kept eligibility (policies/pod_topology_spread/eligible.py).

Which cluster nodes a constraint counts over is worked out once per spec and
kept until a node changes. One policy instance lives through a random
interleaving of binds, removals, terminations, node relabels, taint changes,
node arrivals and departures, and requests; after every step its answers
(filter verdicts, reasons, unresolvable marks, scores, on the whole cluster and
on a random subset of it) must equal a fresh instance's, which has kept nothing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.cache.state import ClusterState
from extender.model.pod import parse_pod
from policies.pod_topology_spread import PodTopologySpread

ZONES = ["z1", "z2", "z3", None]
NODES = 6


def node(i: int, zone: str | None, tier: bool, tainted: bool) -> dict:
    labels = {"kubernetes.io/hostname": f"n{i}"}
    if zone is not None:
        labels["zone"] = zone
    if tier:
        labels["tier"] = "x"
    return {
        "kind": "Node",
        "metadata": {"name": f"n{i}", "labels": labels},
        "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}] if tainted else []},
        "status": {"allocatable": {"cpu": "64", "memory": "64Gi", "pods": "500"}},
    }


def pod(name: str, app: str, node_name: str = "", terminating: bool = False, **spec) -> dict:
    meta = {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": {"app": app}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body = {"containers": [{"name": "c"}], **spec}
    if node_name:
        body["nodeName"] = node_name
    return {"kind": "Pod", "metadata": meta, "spec": body}


def constraint(key: str, hard: bool, skew: int, affinity: str, taints: str) -> dict:
    return {
        "maxSkew": skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "a"}},
        "nodeAffinityPolicy": affinity,
        "nodeTaintsPolicy": taints,
    }


incoming_specs = st.tuples(
    st.lists(
        st.tuples(
            st.sampled_from(["zone", "kubernetes.io/hostname"]),
            st.booleans(),  # hard
            st.integers(1, 2),
            st.sampled_from(["Honor", "Ignore"]),
            st.sampled_from(["Honor", "Ignore"]),
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda c: (c[0], c[1]),
    ),
    st.booleans(),  # node selector tier=x
    st.booleans(),  # tolerates the taint
)

steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["bind", "bind", "place", "remove", "terminate", "relabel", "taint", "drop", "ask"]
        ),
        st.integers(0, 9),  # pod
        st.integers(0, NODES - 1),  # node
        st.sampled_from(ZONES),
        st.booleans(),
        st.sampled_from(["a", "b"]),
    ),
    min_size=1,
    max_size=30,
)


def incoming(spec: tuple) -> dict:
    constraints, node_selector, tolerates = spec
    extra: dict = {"topologySpreadConstraints": [constraint(*c) for c in constraints]}
    if node_selector:
        extra["nodeSelector"] = {"tier": "x"}
    if tolerates:
        extra["tolerations"] = [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]
    return pod("new", "a", **extra)


def answers(policy: PodTopologySpread, info, state: ClusterState, names: list[str]) -> tuple:
    view = state.view(names)[0]
    ok = policy.filter(info, view)
    failed = np.flatnonzero(~ok)
    reasons = policy.reasons(info, view, failed)
    hopeless = policy.unresolvable_mask(info, view, failed).tolist()
    passed = view.subset(np.flatnonzero(ok))
    scores = policy.score(info, passed).tolist()
    raw = policy.raw_scores(info, view)
    raw = None if raw is None else (raw[0].tolist(), None if raw[1] is None else raw[1].tolist())
    return ok.tolist(), reasons, hopeless, scores, raw


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ZONES), st.booleans(), st.booleans()),
        min_size=NODES,
        max_size=NODES,
    ),
    st.lists(incoming_specs, min_size=1, max_size=3),
    steps,
    st.randoms(use_true_random=False),
)
def test_kept_eligibility_answers_as_a_fresh_policy(node_specs, specs, ops, rng):
    state = ClusterState()
    state.load_items([node(i, *s) for i, s in enumerate(node_specs)])
    live = {i: s for i, s in enumerate(node_specs)}
    kept = PodTopologySpread({})
    pods = [parse_pod(incoming(s)) for s in specs]
    for op, p, n, zone, flag, app in ops:
        uid = f"u-p{p}"
        if op == "bind" and uid not in state.pods and n in live:
            state.apply_pod(pod(f"p{p}", app))
            state.bind(uid, f"n{n}")
        elif op == "place" and n in live:
            state.apply_pod(pod(f"p{p}", app, f"n{n}"))
        elif op == "remove":
            state.remove_pod(uid)
        elif op == "terminate" and uid in state.pods:
            state.apply_pod(pod(f"p{p}", app, state.pods[uid].node_name, terminating=True))
        elif op == "relabel":
            tainted = live.get(n, (None, False, False))[2]
            live[n] = (zone, flag, tainted)
            state.apply_node(node(n, zone, flag, tainted))
        elif op == "taint":
            zone_now, tier = live.get(n, (zone, False, False))[:2]
            live[n] = (zone_now, tier, flag)
            state.apply_node(node(n, zone_now, tier, flag))
        elif op == "drop" and n in live and len(live) > 1:
            del live[n]
            state.remove_node(f"n{n}")
        names = [f"n{i}" for i in sorted(live)]
        subset = [name for name in names if rng.random() < 0.6] or names[:1]
        for info in pods:
            for chosen in (names, subset):
                want = answers(PodTopologySpread({}), info, state, chosen)
                assert answers(kept, info, state, chosen) == want, (op, chosen)
