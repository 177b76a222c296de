"""PodTopologySpread: cases from upstream podtopologyspread (kube-scheduler 1.34).

Filter cases: filtering_test.go TestSingleConstraint and TestMultipleConstraints;
score cases: scoring_test.go TestPodTopologySpreadScore. Upstream runs one
plugin alone, so a node other plugins would reject may still pass here ("in
real case, it's false" in upstream's comments); failedNodes are nodes of the
cluster that are not candidates. Each case runs over podsift's real cache
(pods counted incrementally as they are placed), built from a snapshot List.
"""

from __future__ import annotations

import pytest

from extender.cache.state import ClusterState
from extender.model.errors import ConfigError, InvalidInput
from extender.testing import make_pod, run_filter, run_score, run_unresolvable
from policies.pod_topology_spread import PodTopologySpread
from policies.pod_topology_spread.pod_topology_spread import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH as SKEW,
)
from policies.pod_topology_spread.pod_topology_spread import (
    ERR_REASON_NODE_LABEL_NOT_MATCH as MISSING,
)
from policies.pod_topology_spread.pod_topology_spread import topology_weight

HOST = "kubernetes.io/hostname"
FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}
DNS, SA = "DoNotSchedule", "ScheduleAnyway"
UNSCHEDULABLE_TAINT = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]


def N(name: str, taints: list | None = None, **labels: str) -> dict:  # noqa: N802 (upstream's st.MakeNode)
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": {k.replace("__", "/"): v for k, v in labels.items()}},
        "spec": {"taints": taints or []},
        "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}},
    }


def Nz(name: str, zone: str, **extra) -> dict:  # noqa: N802
    """upstream's usual node: zone and node labels."""
    return N(name, zone=zone, node=name, **extra)


def P(  # noqa: N802 (upstream's st.MakePod)
    name: str,
    node: str = "",
    labels: dict | None = None,
    ns: str = "default",
    constraints: list | None = None,
    terminating: bool = False,
    **spec,
) -> dict:
    meta: dict = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"}
    meta["labels"] = {"foo": ""} if labels is None else labels
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body: dict = {"containers": [{"name": "c"}], **spec}
    if node:
        body["nodeName"] = node
    if constraints:
        body["topologySpreadConstraints"] = constraints
    return {
        "kind": "Pod",
        "metadata": meta,
        "spec": body,
        "status": {"phase": "Running" if node else "Pending"},
    }


def SC(  # noqa: N802 (upstream's SpreadConstraint builder)
    skew, key, when, selector, min_domains=None, affinity=None, taints=None, keys=None
) -> dict:
    out = {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when}
    if selector is not None:
        out["labelSelector"] = selector
    if min_domains is not None:
        out["minDomains"] = min_domains
    if affinity:
        out["nodeAffinityPolicy"] = affinity
    if taints:
        out["nodeTaintsPolicy"] = taints
    if keys:
        out["matchLabelKeys"] = keys
    return out


def placed(spec: str, labels: dict | None = None, ns: str = "default") -> list[dict]:
    """ "a1@node-a a2@node-a b1@node-b" -> pods named p-a1... on those nodes."""
    return [P(f"p-{w.split('@')[0]}", w.split("@")[1], labels, ns) for w in spec.split()]


def view_of(nodes, pods, candidates=None, owners=()):
    state = ClusterState()
    state.load_items([*nodes, *pods, *owners])
    names = candidates or [n["metadata"]["name"] for n in nodes]
    return state.view(names)[0]


def filter_codes(policy, pod, view) -> dict[str, str]:
    """Upstream's status codes: Success, Unschedulable, UnschedulableAndUnresolvable."""
    verdicts = run_filter(policy, make_pod(pod), view)
    unresolvable = run_unresolvable(policy, make_pod(pod), view)
    codes = {}
    for name, reason in verdicts.items():
        if not reason:
            codes[name] = "Success"
        else:
            assert reason == (MISSING if unresolvable[name] else SKEW)
            codes[name] = "UnschedulableAndUnresolvable" if unresolvable[name] else "Unschedulable"
    return codes


S, U, UU = "Success", "Unschedulable", "UnschedulableAndUnresolvable"
ABXY = [Nz("node-a", "zone1"), Nz("node-b", "zone1"), Nz("node-x", "zone2"), Nz("node-y", "zone2")]
SPREAD_2103 = "a1@node-a a2@node-a b1@node-b y1@node-y y2@node-y y3@node-y"
ABXY_FOO = [
    N("node-a", node="node-a", foo=""),
    N("node-b", node="node-b", foo=""),
    N("node-x", node="node-x", foo=""),
]
SPREAD_11_1 = "b1@node-a b2@node-b y1@node-y"

# (name, incoming pod, nodes, existing pods, want codes in node order)
SINGLE = [
    ("no existing pods", P("p", constraints=[SC(1, "zone", DNS, FOO)]), ABXY, [], "SSSS"),
    (
        "no existing pods, incoming pod doesn't match itself",
        P("p", constraints=[SC(1, "zone", DNS, BAR)]),
        ABXY,
        [],
        "SSSS",
    ),
    (
        "existing pods in a different namespace do not count",
        P("p", constraints=[SC(1, "zone", DNS, FOO)]),
        ABXY,
        placed("a1@node-a", ns="ns1")
        + placed("b1@node-a", ns="ns2")
        + placed("x1@node-x y1@node-y"),
        "SSUU",
    ),
    (
        "existing pods do not match null selector",
        P("p", constraints=[SC(1, "zone", DNS, None)]),
        ABXY,
        placed("x1@node-x y1@node-y"),
        "SSSS",
    ),
    (
        "pods spread across zones as 3/3, all nodes fit",
        P("p", constraints=[SC(1, "zone", DNS, FOO)]),
        ABXY,
        placed(SPREAD_2103),
        "SSSS",
    ),
    (
        "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
        P("p", constraints=[SC(1, "zone", DNS, FOO)]),
        [Nz("node-a", "zone1"), N("node-b", zon="zone1", node="node-b"), *ABXY[2:]],
        placed("a1@node-a b1@node-b x1@node-x y1@node-y"),
        "S" + "X" + "UU",
    ),
    (
        "pod cannot be scheduled as all nodes don't have label 'rack'",
        P("p", constraints=[SC(1, "rack", DNS, FOO)]),
        [Nz("node-a", "zone1"), Nz("node-x", "zone2")],
        [],
        "XX",
    ),
    (
        "pods spread across nodes as 2/1/0/3, only node-x fits",
        P("p", constraints=[SC(1, "node", DNS, FOO)]),
        ABXY,
        placed(SPREAD_2103),
        "UUSU",
    ),
    (
        "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
        P("p", constraints=[SC(2, "node", DNS, FOO)]),
        ABXY,
        placed(SPREAD_2103),
        "USSU",
    ),
    (
        "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
        P("p", labels={"bar": ""}, constraints=[SC(1, "node", DNS, FOO)]),
        ABXY,
        placed(SPREAD_2103),
        "USSU",
    ),
    (
        "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
        P(
            "p",
            constraints=[SC(1, "node", DNS, FOO)],
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "node",
                                        "operator": "In",
                                        "values": ["node-a", "node-y"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
        ),
        ABXY,
        placed(SPREAD_2103),
        "SSSU",
    ),
    (
        "terminating Pods should be excluded",
        P("p", constraints=[SC(1, "node", DNS, FOO)]),
        [N("node-a", node="node-a"), N("node-b", node="node-b")],
        [P("p-a", "node-a", terminating=True), P("p-b", "node-b")],
        "SU",
    ),
    (
        "incoming pod has nodeAffinity, pods spread as 0/~2~/0/1, hence node-a fits",
        P(
            "p",
            constraints=[SC(1, "zone", DNS, FOO)],
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "node", "operator": "NotIn", "values": ["node-b"]}
                                ]
                            }
                        ]
                    }
                }
            },
        ),
        ABXY,
        placed("b1@node-b b2@node-b y1@node-y"),
        "SSUU",
    ),
    (
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < minDomains",
        P("p", constraints=[SC(2, "node", DNS, FOO, min_domains=4)]),
        [N("node-a", node="node-a"), N("node-b", node="node-b"), N("node-c", node="node-c")],
        placed("a1@node-a a2@node-a b1@node-b b2@node-b c1@node-c"),
        "UUS",
    ),
    (
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains > minDomains",
        P("p", constraints=[SC(2, "node", DNS, FOO, min_domains=2)]),
        [N("node-a", node="node-a"), N("node-b", node="node-b"), N("node-c", node="node-c")],
        placed("a1@node-a a2@node-a b1@node-b b2@node-b c1@node-c"),
        "SSS",
    ),
    (
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains < minDomains",
        P("p", constraints=[SC(2, "zone", DNS, FOO, min_domains=3)]),
        ABXY,
        placed("b1@node-a b2@node-b y1@node-y"),
        "UUSS",
    ),
    (
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains > minDomains",
        P("p", constraints=[SC(2, "zone", DNS, FOO, min_domains=1)]),
        ABXY,
        placed("b1@node-a b2@node-b y1@node-y"),
        "SSSS",
    ),
    (
        "NodeAffinityPolicy honored with labelSelectors",
        P("p", constraints=[SC(1, "node", DNS, FOO)], nodeSelector={"foo": ""}),
        [*ABXY_FOO, N("node-y", node="node-y")],
        placed(SPREAD_11_1),
        "UUSS",
    ),
    (
        "NodeAffinityPolicy ignored with labelSelectors",
        P("p", constraints=[SC(1, "node", DNS, FOO, affinity="Ignore")], nodeSelector={"foo": ""}),
        [*ABXY_FOO, N("node-y", node="node-y")],
        placed(SPREAD_11_1),
        "UUSU",
    ),
    (
        "NodeTaintsPolicy honored",
        P("p", constraints=[SC(1, "node", DNS, FOO, taints="Honor")]),
        [*ABXY_FOO, N("node-y", taints=UNSCHEDULABLE_TAINT, node="node-y")],
        placed(SPREAD_11_1),
        "UUSS",
    ),
    (
        "NodeTaintsPolicy ignored",
        P("p", constraints=[SC(1, "node", DNS, FOO)]),
        [*ABXY_FOO, N("node-y", taints=UNSCHEDULABLE_TAINT, node="node-y")],
        placed(SPREAD_11_1),
        "UUSU",
    ),
]

F, FB, B = {"foo": ""}, {"foo": "", "bar": ""}, {"bar": ""}
ZONE_NODE = [SC(1, "zone", DNS, FOO), SC(1, "node", DNS, FOO)]
FOO_BAR = [SC(1, "zone", DNS, FOO), SC(1, "node", DNS, BAR)]
ZONE_FOO = [
    Nz("node-a", "zone1", foo=""),
    Nz("node-b", "zone1", foo=""),
    Nz("node-x", "zone2", foo=""),
]
SPREAD_ABY = "a1@node-a b1@node-b y1@node-y"

MULTIPLE = [
    (
        "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
        P("p", constraints=ZONE_NODE),
        ABXY,
        placed(SPREAD_2103),
        "UUSU",
    ),
    (
        "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
        P("p", constraints=ZONE_NODE),
        ABXY,
        placed(SPREAD_2103 + " y4@node-y"),
        "UUUU",
    ),
    (
        "Constraints hold different labelSelectors, spreads = [1/0, 1/0/0/1]",
        P("p", labels=FB, constraints=FOO_BAR),
        ABXY,
        placed("a1@node-a", F) + placed("y1@node-y", B),
        "UUSU",
    ),
    (
        "Constraints hold different labelSelectors, spreads = [1/0, 0/0/1/1]",
        P("p", labels=FB, constraints=FOO_BAR),
        ABXY,
        placed("a1@node-a", F) + placed("x1@node-x y1@node-y", B),
        "UUUU",
    ),
    (
        "Constraints hold different labelSelectors, spreads = [2/3, 1/0/0/1]",
        P("p", labels=FB, constraints=FOO_BAR),
        ABXY,
        placed("a1@node-a", F)
        + placed("a2@node-a", FB)
        + placed("y1@node-y", F)
        + placed("y2@node-y", FB)
        + placed("y3@node-y", F),
        "USUU",
    ),
    (
        "Constraints hold different labelSelectors but pod doesn't match itself on 'zone'",
        P("p", labels=B, constraints=FOO_BAR),
        ABXY,
        placed("a1@node-a", F) + placed("x1@node-x y1@node-y", B),
        "SSUU",
    ),
    (
        "two Constraints on zone and node, absence of label 'node' on node-x",
        P("p", constraints=ZONE_NODE),
        [Nz("node-a", "zone1"), Nz("node-b", "zone1"), N("node-x", zone="zone2"), ABXY[3]],
        placed("a1@node-a y3@node-y"),
        "USXU",
    ),
    (
        "two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
        P(
            "p",
            constraints=[SC(1, "zone", DNS, FOO), SC(1, "node", DNS, FOO, affinity="Ignore")],
            nodeSelector={"foo": ""},
        ),
        [*ZONE_FOO, Nz("node-y", "zone2")],
        placed(SPREAD_ABY),
        "UUSU",
    ),
    (
        "two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
        P("p", constraints=[SC(1, "zone", DNS, FOO, taints="Honor"), SC(1, "node", DNS, FOO)]),
        [*ZONE_FOO, Nz("node-y", "zone2", taints=UNSCHEDULABLE_TAINT)],
        placed(SPREAD_ABY),
        "UUSU",
    ),
    (
        "two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
        P("p", constraints=ZONE_NODE, nodeSelector={"foo": ""}),
        [
            Nz("node-a", "zone1", foo=""),
            Nz("node-b", "zone1"),
            Nz("node-x", "zone2", foo=""),
            Nz("node-y", "zone2", foo="", taints=UNSCHEDULABLE_TAINT),
        ],
        placed(SPREAD_ABY),
        "USSU",
    ),
    (
        "two node inclusion Constraints, zone: honor/honor, node: ignore/ignore",
        P(
            "p",
            constraints=[
                SC(1, "zone", DNS, FOO, taints="Honor"),
                SC(1, "node", DNS, FOO, affinity="Ignore"),
            ],
            nodeSelector={"foo": ""},
        ),
        [
            Nz("node-a", "zone1", foo=""),
            Nz("node-b", "zone1"),
            Nz("node-x", "zone2", foo=""),
            Nz("node-y", "zone2", foo="", taints=UNSCHEDULABLE_TAINT),
        ],
        placed(SPREAD_ABY),
        "UUSU",
    ),
]


@pytest.mark.parametrize(
    "name,incoming,nodes,existing,want", SINGLE + MULTIPLE, ids=[c[0] for c in SINGLE + MULTIPLE]
)
def test_filter_upstream_cases(name, incoming, nodes, existing, want):
    codes = {"S": S, "U": U, "X": UU}
    policy = PodTopologySpread({"defaultingType": "List"})
    got = filter_codes(policy, incoming, view_of(nodes, existing))
    assert got == {n["metadata"]["name"]: codes[c] for n, c in zip(nodes, want, strict=True)}


def H(name: str, **labels) -> dict:  # noqa: N802
    return N(name, **{"kubernetes.io__hostname": name}, **labels)


HOSTS4 = [H("node-a"), H("node-b"), H("node-c"), H("node-d")]
SPREAD_4321 = (
    "a1@node-a a2@node-a a3@node-a a4@node-a b1@node-b b2@node-b b3@node-b c1@node-c c2@node-c "
    "d1@node-d"
)
SPREAD_421_3 = (
    "a1@node-a a2@node-a a3@node-a a4@node-a b1@node-b b2@node-b x1@node-x y1@node-y y2@node-y "
    "y3@node-y"
)

# (name, pod, existing, candidate nodes, failed nodes, owners, want scores in candidate order)
SCORE = [
    (
        "one constraint on node, no existing pods",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        "",
        [H("node-a"), H("node-b")],
        [],
        [],
        [100, 100],
    ),
    (
        "one constraint on node, only one node is candidate",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        "a1@node-a a2@node-a b1@node-b",
        [H("node-a")],
        [H("node-b")],
        [],
        [100],
    ),
    (
        "one constraint on node, all nodes have the same number of matching pods",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        "a1@node-a b1@node-b",
        [H("node-a"), H("node-b")],
        [],
        [],
        [100, 100],
    ),
    (
        "one constraint on node, all 4 nodes are candidates",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        "a1@node-a a2@node-a b1@node-b d1@node-d d2@node-d d3@node-d",
        HOSTS4,
        [],
        [],
        [20, 60, 100, 0],
    ),
    (
        "one constraint on node, null selector",
        P("p", constraints=[SC(1, HOST, SA, None)]),
        "a1@node-a a2@node-a b1@node-b d1@node-d d2@node-d d3@node-d",
        HOSTS4,
        [],
        [],
        [100, 100, 100, 100],
    ),
    (
        "one constraint on node, all 4 nodes are candidates, maxSkew=2",
        P("p", constraints=[SC(2, HOST, SA, FOO)]),
        "a1@node-a a2@node-a b1@node-b d1@node-d d2@node-d d3@node-d",
        HOSTS4,
        [],
        [],
        [33, 66, 100, 16],
    ),
    (
        "one constraint on node, all 4 nodes are candidates, maxSkew=3",
        P("p", constraints=[SC(3, HOST, SA, FOO)]),
        SPREAD_4321,
        HOSTS4,
        [],
        [],
        [44, 66, 77, 100],
    ),
    (
        "system defaulting, nodes don't have zone, pods match service",
        P("p"),
        SPREAD_4321,
        HOSTS4,
        [],
        [
            {
                "kind": "Service",
                "metadata": {"name": "s", "namespace": "default"},
                "spec": {"selector": {"foo": ""}},
            }
        ],
        [44, 66, 77, 100],
    ),
    (
        "one constraint on node, 3 out of 4 nodes are candidates",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        SPREAD_421_3,
        [H("node-a"), H("node-b"), H("node-x")],
        [H("node-y")],
        [],
        [33, 83, 100],
    ),
    (
        "one constraint on node, 3 out of 4 nodes are candidates, one lacks the topology key",
        P("p", constraints=[SC(1, HOST, SA, FOO)]),
        SPREAD_421_3,
        [H("node-a"), N("node-b", n="node-b"), H("node-x")],
        [H("node-y")],
        [],
        [16, 0, 100],
    ),
    (
        "one constraint on zone, 3 out of 4 nodes are candidates",
        P("p", constraints=[SC(1, "zone", SA, FOO)]),
        SPREAD_421_3,
        [H("node-a", zone="zone1"), H("node-b", zone="zone1"), H("node-x", zone="zone2")],
        [H("node-y", zone="zone2")],
        [],
        [75, 75, 100],
    ),
    (
        "two Constraints on zone and node, 2 out of 4 nodes are candidates",
        P("p", constraints=[SC(1, "zone", SA, FOO), SC(1, HOST, SA, FOO)]),
        "a1@node-a a2@node-a b1@node-b x1@node-x x2@node-x y1@node-y y2@node-y y3@node-y y4@node-y",
        [H("node-a", zone="zone1"), H("node-x", zone="zone2")],
        [H("node-b", zone="zone1"), H("node-y", zone="zone2")],
        [],
        [100, 63],
    ),
]


@pytest.mark.parametrize(
    "name,incoming,existing,candidates,failed,owners,want", SCORE, ids=[c[0] for c in SCORE]
)
def test_score_upstream_cases(name, incoming, existing, candidates, failed, owners, want):
    policy = PodTopologySpread({})  # System defaulting, as upstream's score tests
    nodes = candidates + failed
    view = view_of(
        nodes,
        placed(existing) if existing else [],
        [n["metadata"]["name"] for n in candidates],
        owners,
    )
    got = run_score(policy, make_pod(incoming), view)
    assert got == {n["metadata"]["name"]: s for n, s in zip(candidates, want, strict=True)}


def test_repeated_pair_is_refused_where_upstream_unit_test_scores_it():
    """Upstream's "two Constraints on zone, 2 out of 4 nodes are candidates" repeats
    {zone, ScheduleAnyway}; the API server refuses such a pod, and so does podsift."""
    incoming = P(
        "p",
        labels={"foo": "", "bar": ""},
        constraints=[SC(1, "zone", SA, FOO), SC(1, "zone", SA, BAR)],
    )
    view = view_of([H("node-a", zone="zone1")], [])
    with pytest.raises(InvalidInput) as err:
        run_score(PodTopologySpread({}), make_pod(incoming), view)
    assert err.value.field == "spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}"


def test_invalid_constraint_is_a_precise_error_for_filter_and_score():
    incoming = P("p", constraints=[SC(1, "zone", DNS, {"matchLabels": {"a": "b c"}})])
    view = view_of([H("node-a", zone="zone1")], [])
    for run in (run_filter, run_score):
        with pytest.raises(InvalidInput) as err:
            run(PodTopologySpread({}), make_pod(incoming), view)
        assert err.value.field == "spec.topologySpreadConstraints[0].labelSelector.matchLabels.a"


def test_match_label_keys_count_only_the_same_revision():
    incoming = P(
        "p",
        labels={"foo": "", "hash": "v2"},
        constraints=[SC(1, "node", DNS, FOO, keys=["hash"])],
    )
    nodes = [N("node-a", node="node-a"), N("node-b", node="node-b")]
    existing = placed("a1@node-a a2@node-a", {"foo": "", "hash": "v1"}) + placed(
        "b1@node-b", {"foo": "", "hash": "v2"}
    )
    # v1 pods do not count: node-b has 1 matching, node-a 0
    assert filter_codes(PodTopologySpread({}), incoming, view_of(nodes, existing)) == {
        "node-a": S,
        "node-b": U,
    }


def test_list_default_constraints_from_replicaset_owner():
    owner_ref = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "controller": True}]
    incoming = P("p", labels={"app": "web"})
    incoming["metadata"]["ownerReferences"] = owner_ref
    rs = {
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
    }
    nodes = [N("node-a", node="node-a"), N("node-b", node="node-b")]
    existing = placed("a1@node-a", {"app": "web"}) + placed("b1@node-b", {"app": "other"})
    policy = PodTopologySpread(
        {
            "defaultingType": "List",
            "defaultConstraints": [{"maxSkew": 1, "topologyKey": "node", "whenUnsatisfiable": DNS}],
        }
    )
    assert filter_codes(policy, incoming, view_of(nodes, existing, owners=[rs])) == {
        "node-a": U,
        "node-b": S,
    }
    # without the owner there is no selector, hence no constraint
    assert filter_codes(policy, incoming, view_of(nodes, existing)) == {"node-a": S, "node-b": S}
    # System defaults are ScheduleAnyway: they never filter
    assert filter_codes(PodTopologySpread({}), incoming, view_of(nodes, existing, owners=[rs])) == {
        "node-a": S,
        "node-b": S,
    }


@pytest.mark.parametrize(
    "args,fragment",
    [
        ({"defaultingType": "Other"}, "defaultingType"),
        (
            {"defaultConstraints": [{"maxSkew": 1, "topologyKey": "z", "whenUnsatisfiable": SA}]},
            "System cannot be used",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "x", "labelSelector": {}}
                ],
            },
            "defaultConstraints[0].maxSkew",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "z", "whenUnsatisfiable": SA},
                    {"maxSkew": 2, "topologyKey": "z", "whenUnsatisfiable": SA},
                ],
            },
            "duplicate {z, ScheduleAnyway}",
        ),
        ({"bogus": 1}, "bogus: unknown field"),
    ],
)
def test_args_are_validated(args, fragment):
    with pytest.raises(ConfigError) as err:
        PodTopologySpread(args)
    assert fragment in str(err.value)


def test_topology_weight_is_the_natural_log_in_fixed_point():
    import math

    for size in (0, 1, 2, 3, 10, 5000):
        assert abs(topology_weight(size) - math.log(size + 2) * 10**9) < 2


def test_full_node_objects_use_their_own_labels_for_their_domain():
    """nodeCacheCapable: false: a candidate's domain comes from the object it was
    sent as; a value no cached node has is a domain without pods."""
    from extender.testing import make_objects_view

    cached = [Nz("node-a", "zone1"), Nz("node-b", "zone2")]
    existing = placed("a1@node-a a2@node-a")
    incoming = P("p", constraints=[SC(1, "zone", DNS, FOO)])
    policy = PodTopologySpread({})
    view = make_objects_view(cached, existing)
    assert run_filter(policy, make_pod(incoming), view) == {"node-a": SKEW, "node-b": ""}
    # node-b sent with a zone podsift's cache has never seen: still a domain with no pods
    relabelled = [cached[0], Nz("node-b", "zone9")]
    state = ClusterState()
    state.load_items([*cached, *existing])
    view = state.view_of_objects(relabelled)[0]
    assert run_filter(policy, make_pod(incoming), view) == {"node-a": SKEW, "node-b": ""}


def test_preemption_takes_the_victims_out_of_the_counts():
    """/preempt: a node whose own matching victims would even the spread out is kept,
    as upstream's RemovePod lowers the counts of a per-node copy of the state."""
    from extender.engine.config import parse_configuration
    from extender.engine.engine import Engine
    from extender.wire.service import Service

    nodes = [N("node-a", node="node-a"), N("node-b", node="node-b"), N("node-c", node="node-c")]
    existing = placed("a1@node-a a2@node-a b1@node-b c1@node-c")
    state = ClusterState()
    state.load_items([*nodes, *existing])
    engine = Engine(parse_configuration({"filters": ["PodTopologySpread"], "scores": []}))
    svc = Service(state, engine)
    incoming = P("p", constraints=[SC(1, "node", DNS, FOO)])

    def victims(**by_node):
        return {
            n: {"Pods": [{"UID": f"uid-default-p-{u}"} for u in uids], "NumPDBViolations": 0}
            for n, uids in by_node.items()
        }

    # 2/1/1: node-a holds one too many; evicting one of its pods makes it 1/1/1 + 1
    kept = svc.preempt({"Pod": incoming, "NodeNameToMetaVictims": victims(**{"node-a": ["a1"]})})
    assert set(kept["NodeNameToMetaVictims"]) == {"node-a"}
    # evicting node-b's pod lowers the minimum to 0 there: 0 + 1 - 0 fits
    kept = svc.preempt({"Pod": incoming, "NodeNameToMetaVictims": victims(**{"node-b": ["b1"]})})
    assert set(kept["NodeNameToMetaVictims"]) == {"node-b"}
    # a victim that does not match the selector changes nothing on node-a
    other = P("x", "node-a", labels={"bar": ""})
    state.apply_pod(other)
    kept = svc.preempt({"Pod": incoming, "NodeNameToMetaVictims": victims(**{"node-a": ["x"]})})
    assert kept["NodeNameToMetaVictims"] == {}
