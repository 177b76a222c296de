"""InterPodAffinity: case tables from upstream interpodaffinity/filtering_test.go
(TestRequiredAffinitySingleNode, TestRequiredAffinityMultipleNodes), scoring cases
in the shape of scoring_test.go's TestPreferredAffinity (expected scores worked out
by hand from upstream's rules), the args validation, and podsift's own rules (parse
errors, matchLabelKeys, the integer normalization, the counts kept as pods come and go).

Upstream's tests use the namespace "" for pods without one; here that is
"default", which changes nothing since every pod of a case shares it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from extender.cache.state import ClusterState
from extender.model.errors import ConfigError, InvalidInput
from extender.testing import make_objects_view
from policies.inter_pod_affinity import InterPodAffinity
from policies.inter_pod_affinity.normalize import min_max_normalize
from tests.helpers import make_pod

AFF = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

NAMESPACES = [
    {"kind": "Namespace", "metadata": {"name": "subteam1.team1", "labels": {"team": "team1"}}},
    {"kind": "Namespace", "metadata": {"name": "subteam2.team1", "labels": {"team": "team1"}}},
    {"kind": "Namespace", "metadata": {"name": "subteam1.team2", "labels": {"team": "team2"}}},
]


def node(name: str, **labels: str) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": "8", "memory": "8Gi", "pods": "100"}},
    }


def expr(key: str, operator: str, *values: str) -> dict:
    out: dict = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def term(topology: str, *expressions: dict, namespaces=None, ns_selector=None, **extra) -> dict:
    out: dict = {"labelSelector": {"matchExpressions": list(expressions)}, "topologyKey": topology}
    if namespaces is not None:
        out["namespaces"] = namespaces
    if ns_selector is not None:
        out["namespaceSelector"] = ns_selector
    out.update(extra)
    return out


def In(key, topology, *values, **kw):  # noqa: N802 - reads like upstream's PodAffinityIn
    return term(topology, expr(key, "In", *values), **kw)


def NotIn(key, topology, *values, **kw):  # noqa: N802
    return term(topology, expr(key, "NotIn", *values), **kw)


def Exists(key, topology, **kw):  # noqa: N802
    return term(topology, expr(key, "Exists"), **kw)


_counter = iter(range(10**9))


def pod(
    labels: dict | None = None,
    node_name: str = "",
    namespace: str = "default",
    affinity=(),
    anti=(),
    pref_affinity=(),
    pref_anti=(),
) -> dict:
    spec: dict = {"containers": [{"name": "c"}]}
    if node_name:
        spec["nodeName"] = node_name
    aff: dict = {}
    if affinity or pref_affinity:
        aff["podAffinity"] = {}
        if affinity:
            aff["podAffinity"][REQUIRED] = list(affinity)
        if pref_affinity:
            aff["podAffinity"][PREFERRED] = [
                {"weight": w, "podAffinityTerm": t} for w, t in pref_affinity
            ]
    if anti or pref_anti:
        aff["podAntiAffinity"] = {}
        if anti:
            aff["podAntiAffinity"][REQUIRED] = list(anti)
        if pref_anti:
            aff["podAntiAffinity"][PREFERRED] = [
                {"weight": w, "podAffinityTerm": t} for w, t in pref_anti
            ]
    if aff:
        spec["affinity"] = aff
    n = next(_counter)
    meta = {"name": f"p{n}", "uid": f"uid-{n}", "namespace": namespace, "labels": labels or {}}
    return {"kind": "Pod", "metadata": meta, "spec": spec}


def state_of(nodes, pods, namespaces=NAMESPACES) -> ClusterState:
    state = ClusterState()
    state.load_items(list(nodes) + list(pods) + list(namespaces))
    return state


def filter_verdicts(incoming, nodes, pods, args=None) -> dict[str, str]:
    state = state_of(nodes, pods)
    view, _, _ = state.view([n["metadata"]["name"] for n in nodes])
    policy = InterPodAffinity(args)
    p = make_pod(incoming)
    ok = policy.filter(p, view)
    failed = np.flatnonzero(~ok)
    reasons = dict(zip([view.names[i] for i in failed], policy.reasons(p, view, failed)))
    return {name: reasons.get(name, "") for name in view.names}


def scores(incoming, nodes, pods, args=None) -> dict[str, int]:
    state = state_of(nodes, pods)
    view, _, _ = state.view([n["metadata"]["name"] for n in nodes])
    out = InterPodAffinity(args).score(make_pod(incoming), view)
    return dict(zip(view.names, out.tolist()))


# ---------------------------------------------------------------------------
# TestRequiredAffinitySingleNode

SECURITY = {"security": "S1"}
SCAN = {"service": "securityscan"}
NODE1 = [node("node1", region="r1", zone="z11")]
SCAN_POD = pod(SCAN, "node1")

SINGLE_NODE = [
    ("no affinity, no pods", pod(), [], ""),
    (
        "affinity In matches",
        pod(SECURITY, affinity=[In("service", "region", "securityscan", "value2")]),
        [SCAN_POD],
        "",
    ),
    (
        "affinity NotIn matches",
        pod(SECURITY, affinity=[NotIn("service", "region", "securityscan3", "value3")]),
        [SCAN_POD],
        "",
    ),
    (
        "affinity: the existing pod is in another namespace",
        pod(
            SECURITY,
            affinity=[In("service", "", "securityscan", "value2", namespaces=["DiffNameSpace"])],
        ),
        [pod(SCAN, "node1", namespace="ns")],
        AFF,
    ),
    (
        "affinity selector does not match",
        pod(SCAN, affinity=[In("service", "", "antivirusscan", "value2")]),
        [SCAN_POD],
        AFF,
    ),
    (
        "multiple affinity terms, all match",
        pod(
            SECURITY,
            affinity=[
                term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
                term(
                    "region",
                    expr("service", "In", "securityscan"),
                    expr("service", "NotIn", "WrongValue"),
                ),
            ],
        ),
        [SCAN_POD],
        "",
    ),
    (
        "requirements are ANDed: one does not match",
        pod(
            SECURITY,
            affinity=[
                term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
                term(
                    "region",
                    expr("service", "In", "securityscan2"),
                    expr("service", "NotIn", "WrongValue"),
                ),
            ],
        ),
        [SCAN_POD],
        AFF,
    ),
    (
        "affinity and anti-affinity both satisfied",
        pod(
            SECURITY,
            affinity=[In("service", "region", "securityscan", "value2")],
            anti=[In("service", "node", "antivirusscan", "value2")],
        ),
        [SCAN_POD],
        "",
    ),
    (
        "affinity, anti-affinity and symmetry satisfied",
        pod(
            SECURITY,
            affinity=[In("service", "region", "securityscan", "value2")],
            anti=[In("service", "node", "antivirusscan", "value2")],
        ),
        [pod(SCAN, "node1", anti=[In("service", "node", "antivirusscan", "value2")])],
        "",
    ),
    (
        "affinity satisfied, anti-affinity not",
        pod(
            SECURITY,
            affinity=[In("service", "region", "securityscan", "value2")],
            anti=[In("service", "zone", "securityscan", "value2")],
        ),
        [SCAN_POD],
        ANTI,
    ),
    (
        "affinity and anti-affinity satisfied, symmetry not",
        pod(
            SCAN,
            affinity=[In("service", "region", "securityscan", "value2")],
            anti=[In("service", "node", "antivirusscan", "value2")],
        ),
        [pod(SCAN, "node1", anti=[In("service", "zone", "securityscan", "value2")])],
        EXISTING,
    ),
    (
        "the pod matches its own NotIn term but the only matching pod is on an unknown node",
        pod(SCAN, affinity=[NotIn("service", "region", "securityscan", "value2")]),
        [pod(SCAN, "node2")],
        AFF,
    ),
    (
        "existing pod's anti-affinity with no own terms: violated",
        pod(SCAN),
        [pod(SCAN, "node1", anti=[In("service", "zone", "securityscan", "value2")])],
        EXISTING,
    ),
    (
        "existing pod's anti-affinity with no own terms: satisfied",
        pod(SCAN),
        [pod(SCAN, "node1", anti=[NotIn("service", "zone", "securityscan", "value2")])],
        "",
    ),
    (
        "own anti-affinity violated before the existing pod's",
        pod(SCAN, anti=[Exists("service", "region"), Exists("security", "region")]),
        [pod(SECURITY, "node1", anti=[Exists("security", "zone")])],
        ANTI,
    ),
    (
        "symmetry a1",
        pod(SCAN, anti=[Exists("service", "zone"), Exists("security", "zone")]),
        [pod(SECURITY, "node1", anti=[Exists("security", "zone")])],
        ANTI,
    ),
    (
        "symmetry a2",
        pod(SECURITY, anti=[Exists("security", "zone")]),
        [pod(SCAN, "node1", anti=[Exists("service", "zone"), Exists("security", "zone")])],
        EXISTING,
    ),
    (
        "symmetry b1",
        pod({"abc": "", "xyz": ""}, anti=[Exists("abc", "zone"), Exists("def", "zone")]),
        [pod({"def": "", "xyz": ""}, "node1", anti=[Exists("abc", "zone"), Exists("def", "zone")])],
        ANTI,
    ),
    (
        "symmetry b2",
        pod({"def": "", "xyz": ""}, anti=[Exists("abc", "zone"), Exists("def", "zone")]),
        [pod({"abc": "", "xyz": ""}, "node1", anti=[Exists("abc", "zone"), Exists("def", "zone")])],
        ANTI,
    ),
    (
        "affinity with a matching namespaceSelector",
        pod(
            SECURITY,
            affinity=[
                In(
                    "service",
                    "region",
                    "securityscan",
                    "value2",
                    ns_selector={"matchExpressions": [expr("team", "In", "team1")]},
                )
            ],
        ),
        [pod(SCAN, "node1", namespace="subteam1.team1")],
        "",
    ),
    (
        "affinity with a namespaceSelector that does not match",
        pod(
            SECURITY,
            affinity=[
                In(
                    "service",
                    "region",
                    "securityscan",
                    "value2",
                    ns_selector={"matchExpressions": [expr("team", "In", "team1")]},
                )
            ],
        ),
        [pod(SCAN, "node1", namespace="subteam1.team2")],
        AFF,
    ),
    (
        "anti-affinity with a matching namespaceSelector",
        pod(
            SECURITY,
            namespace="subteam1.team1",
            anti=[
                In(
                    "service",
                    "zone",
                    "securityscan",
                    "value2",
                    ns_selector={"matchExpressions": [expr("team", "In", "team1")]},
                )
            ],
        ),
        [pod(SCAN, "node1", namespace="subteam2.team1")],
        ANTI,
    ),
    (
        "anti-affinity with the all-namespaces selector {}",
        pod(
            SECURITY,
            namespace="subteam1.team1",
            anti=[In("service", "zone", "securityscan", "value2", ns_selector={})],
        ),
        [pod(SCAN, "node1", namespace="subteam2.team1")],
        ANTI,
    ),
    (
        "anti-affinity with a namespaceSelector that does not match",
        pod(
            SECURITY,
            namespace="subteam1.team1",
            anti=[
                In(
                    "service",
                    "zone",
                    "securityscan",
                    "value2",
                    ns_selector={"matchExpressions": [expr("team", "In", "team1")]},
                )
            ],
        ),
        [pod(SCAN, "node1", namespace="subteam1.team2")],
        "",
    ),
]


@pytest.mark.parametrize("name,incoming,pods,want", SINGLE_NODE, ids=[c[0] for c in SINGLE_NODE])
def test_required_affinity_single_node(name, incoming, pods, want):
    assert filter_verdicts(incoming, NODE1, pods) == {"node1": want}


# ---------------------------------------------------------------------------
# TestRequiredAffinityMultipleNodes

CHINA = {"region": "China"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
INDIA = {"region": "India"}

MULTIPLE_NODES = [
    (
        "nodes sharing the domain of a matching pod",
        pod(affinity=[In("foo", "region", "bar")]),
        [pod({"foo": "bar"}, "node1")],
        [node("node1", **CHINA), node("node2", **CHINA_AZ1), node("node3", **INDIA)],
        ["", "", AFF],
    ),
    (
        "the first pod of a collection with affinity to itself goes anywhere",
        pod(
            {"foo": "bar", "service": "securityscan"},
            affinity=[In("foo", "zone", "bar"), In("service", "zone", "securityscan")],
        ),
        [pod({"foo": "bar"}, "nodeA")],
        [node("nodeA", zone="az1", hostname="h1"), node("nodeB", zone="az2", hostname="h2")],
        ["", ""],
    ),
    (
        "the first pod of a collection only on nodes with the topology keys",
        pod(
            {"foo": "bar", "service": "securityscan"},
            affinity=[In("foo", "zone", "bar"), In("service", "zone", "securityscan")],
        ),
        [pod({"foo": "bar"}, "nodeA")],
        [
            node("nodeA", zoneLabel="az1", hostname="h1"),
            node("nodeB", zoneLabel="az2", hostname="h2"),
        ],
        [AFF, AFF],
    ),
    (
        "anti-affinity over a shared region",
        pod(anti=[In("foo", "region", "abc")]),
        [pod({"foo": "abc"}, "nodeA")],
        [
            node("nodeA", region="r1", hostname="nodeA"),
            node("nodeB", region="r1", hostname="nodeB"),
        ],
        [ANTI, ANTI],
    ),
    (
        "anti-affinity matches when any term matches",
        pod(anti=[In("foo", "region", "abc"), In("service", "zone", "securityscan")]),
        [pod({"foo": "abc", "service": "securityscan"}, "nodeA")],
        [
            node("nodeA", region="r1", zone="z1", hostname="nodeA"),
            node("nodeB", region="r1", zone="z2", hostname="nodeB"),
        ],
        [ANTI, ANTI],
    ),
    (
        "anti-affinity: a node in another region passes",
        pod(anti=[In("foo", "region", "abc")]),
        [pod({"foo": "abc"}, "nodeA")],
        [node("nodeA", **CHINA), node("nodeB", **CHINA_AZ1), node("nodeC", **INDIA)],
        [ANTI, ANTI, ""],
    ),
    (
        "anti-affinity: the pod on nodeC is in another namespace",
        pod({"foo": "123"}, namespace="NS1", anti=[In("foo", "region", "bar")]),
        [
            pod({"foo": "bar"}, "nodeA", namespace="NS1"),
            pod(node_name="nodeC", namespace="NS2", anti=[In("foo", "region", "123")]),
        ],
        [node("nodeA", **CHINA), node("nodeB", **CHINA_AZ1), node("nodeC", **INDIA)],
        [ANTI, ANTI, ""],
    ),
    (
        "an existing pod's term whose topology key no node has",
        pod({"foo": ""}),
        [pod(node_name="nodeA", anti=[Exists("foo", "invalid-node-label")])],
        [
            node("nodeA", region="r1", zone="z1", hostname="nodeA"),
            node("nodeB", region="r1", zone="z1", hostname="nodeB"),
        ],
        ["", ""],
    ),
    (
        "the incoming pod's term whose topology key no node has",
        pod(anti=[Exists("foo", "invalid-node-label")]),
        [pod({"foo": ""}, "nodeA")],
        [
            node("nodeA", region="r1", zone="z1", hostname="nodeA"),
            node("nodeB", region="r1", zone="z1", hostname="nodeB"),
        ],
        ["", ""],
    ),
    (
        "two existing pods' terms over zone and region",
        pod({"foo": "", "bar": ""}),
        [
            pod(node_name="nodeA", anti=[Exists("foo", "zone")]),
            pod(node_name="nodeA", anti=[Exists("bar", "region")]),
        ],
        [
            node("nodeA", region="r1", zone="z1", hostname="nodeA"),
            node("nodeB", region="r1", zone="z2", hostname="nodeB"),
        ],
        [EXISTING, EXISTING],
    ),
]


@pytest.mark.parametrize(
    "name,incoming,pods,nodes,want", MULTIPLE_NODES, ids=[c[0] for c in MULTIPLE_NODES]
)
def test_required_affinity_multiple_nodes(name, incoming, pods, nodes, want):
    got = filter_verdicts(incoming, nodes, pods)
    assert list(got.values()) == want


def test_affinity_failures_are_unresolvable_and_anti_affinity_ones_are_not():
    nodes = [node("a", zone="z1"), node("b", zone="z2"), node("c")]
    pods = [pod({"app": "db"}, "a"), pod({"app": "web"}, "b", anti=[Exists("x", "zone")])]
    policy = InterPodAffinity()
    for incoming, want in (
        (pod({"x": "1"}, affinity=[In("app", "zone", "db")]), {"b": True, "c": True}),
        (pod({"x": "1"}, anti=[In("app", "zone", "db")]), {"a": False, "b": False}),
    ):
        state = state_of(nodes, pods)
        view, _, _ = state.view(["a", "b", "c"])
        p = make_pod(incoming)
        failed = np.flatnonzero(~policy.filter(p, view))
        mask = policy.unresolvable_mask(p, view, failed)
        assert dict(zip([view.names[i] for i in failed], mask.tolist())) == want


def test_terms_that_do_not_parse_fail_every_node_with_the_field_named():
    bad = pod(
        SCAN, affinity=[In("service", "region", "{{.bad-value.}}"), In("service", "node", "x")]
    )
    got = filter_verdicts(bad, NODE1, [])
    assert got["node1"].startswith("parsing pod: requiredAffinityTerms: spec.affinity.podAffinity.")
    assert "{{.bad-value.}}" in got["node1"]
    bad_op = pod(anti=[term("zone", expr("a", "Bogus", "x"))])
    assert (
        "'Bogus' is not a valid label selector operator"
        in filter_verdicts(bad_op, NODE1, [])["node1"]
    )


def test_an_existing_pod_whose_terms_do_not_parse_carries_none_of_that_list():
    broken = pod(
        SCAN, "node1", anti=[Exists("service", "zone"), In("a", "zone")]
    )  # In without values
    assert filter_verdicts(pod(SCAN), NODE1, [broken]) == {"node1": ""}
    kept = pod(SCAN, "node1", anti=[Exists("service", "zone")], pref_anti=[(1, In("a", "zone"))])
    assert filter_verdicts(pod(SCAN), NODE1, [kept]) == {"node1": EXISTING}


def test_a_selector_that_cannot_decode_is_invalid_input():
    with pytest.raises(InvalidInput, match=r"labelSelector.matchLabels.app: must be a string"):
        make_pod(pod(anti=[{"labelSelector": {"matchLabels": {"app": 3}}, "topologyKey": "z"}]))


def test_match_label_keys_and_mismatch_label_keys():
    nodes = [node("a", zone="z1"), node("b", zone="z2")]
    placed = [pod({"app": "web", "rev": "1"}, "a"), pod({"app": "web", "rev": "2"}, "b")]
    same_rev = pod(
        {"app": "web", "rev": "2"}, anti=[In("app", "zone", "web", matchLabelKeys=["rev"])]
    )
    assert filter_verdicts(same_rev, nodes, placed) == {"a": "", "b": ANTI}
    other_rev = pod(
        {"app": "web", "rev": "2"}, anti=[In("app", "zone", "web", mismatchLabelKeys=["rev"])]
    )
    assert filter_verdicts(other_rev, nodes, placed) == {"a": ANTI, "b": ""}
    # merged already by the API server: the same verdicts
    merged = pod(
        {"app": "web", "rev": "2"},
        anti=[
            term("zone", expr("app", "In", "web"), expr("rev", "In", "2"), matchLabelKeys=["rev"])
        ],
    )
    assert filter_verdicts(merged, nodes, placed) == {"a": "", "b": ANTI}


def test_null_label_selector_matches_nothing_and_empty_matches_everything():
    nodes = [node("a", zone="z1")]
    placed = [pod({"app": "x"}, "a")]
    null = pod(anti=[{"topologyKey": "zone"}])
    everything = pod(anti=[{"labelSelector": {}, "topologyKey": "zone"}])
    assert filter_verdicts(null, nodes, placed) == {"a": ""}
    assert filter_verdicts(everything, nodes, placed) == {"a": ANTI}


# ---------------------------------------------------------------------------
# TestPreferredAffinity (scoring_test.go), scores after NormalizeScore

RG_CHINA = {"region": "China"}
RG_INDIA = {"region": "India"}
AZ1 = {"az": "az1"}
AZ2 = {"az": "az2"}
RG_CHINA_AZ1 = {"region": "China", "az": "az1"}
S1 = {"security": "S1"}
S2 = {"security": "S2"}
SC = {"service": "securityscan"}

AFF_S1 = [(5, In("security", "region", "S1"))]
AFF_S2 = [(8, In("security", "region", "S2"))]
ANTI_S1 = [(5, In("security", "region", "S1"))]
ANTI_S2 = [(5, In("security", "region", "S2"))]
ANTI_SC = [(5, In("service", "region", "securityscan"))]
HARD_S1 = [In("security", "region", "S1")]


def three_nodes():
    return [node("node1", **RG_CHINA), node("node2", **RG_INDIA), node("node3", **AZ1)]


PREFERRED_CASES = [
    ("no existing pods", pod(S1, pref_affinity=AFF_S1), [], three_nodes(), [0, 0, 0], None),
    (
        "affinity: the matching pod's region scores",
        pod(S1, pref_affinity=AFF_S1),
        [pod(S1, "node1"), pod(S2, "node2"), pod(SC, "node3")],
        three_nodes(),
        [100, 0, 0],
        None,
    ),
    (
        "affinity: nodes of the same region score alike",
        pod(pref_affinity=AFF_S1),
        [pod(S1, "node1")],
        [node("node1", **RG_CHINA), node("node2", **RG_CHINA_AZ1), node("node3", **RG_INDIA)],
        [100, 100, 0],
        None,
    ),
    (
        "anti-affinity: the matching pods' regions score least",
        pod(S1, pref_anti=ANTI_S1),
        [pod(S1, "node1"), pod(S2, "node2")],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA), node("node3", **AZ1)],
        [0, 100, 100],
        None,
    ),
    (
        "affinity and anti-affinity",
        pod(S1, pref_affinity=AFF_S1, pref_anti=ANTI_S2),
        [pod(S1, "node1"), pod(S1, "node2"), pod(S2, "node3"), pod(S1, "node4"), pod(S1, "node5")],
        [
            node("node1", **RG_CHINA),
            node("node2", **RG_INDIA),
            node("node3", **AZ1),
            node("node4", **RG_CHINA),
            node("node5", **RG_CHINA),
        ],
        [100, 33, 0, 100, 100],  # China +15, India +5, node3 has no region
        None,
    ),
    (
        "existing pods' hard affinity with hardPodAffinityWeight 1",
        pod(S1),
        [pod(S1, "node1", affinity=HARD_S1), pod(S1, "node2", affinity=HARD_S1)],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA), node("node3", **AZ1)],
        [100, 100, 0],
        None,
    ),
    (
        "existing pods' hard affinity ignored with hardPodAffinityWeight 0",
        pod(S1),
        [pod(S1, "node1", affinity=HARD_S1), pod(S1, "node2", affinity=HARD_S1)],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA), node("node3", **AZ1)],
        [0, 0, 0],
        {"hardPodAffinityWeight": 0},
    ),
    (
        "existing pods' preferred anti-affinity (symmetry)",
        pod(S1),
        [pod(S2, "node1", pref_anti=ANTI_S1), pod(S2, "node2", pref_anti=ANTI_S1)],
        [node("node1", **RG_CHINA), node("node2", **AZ1), node("node3", **RG_INDIA)],
        [0, 100, 100],
        None,
    ),
    (
        "existing pods' preferred terms ignored when the pod has none",
        pod(S1),
        [pod(S2, "node1", pref_anti=ANTI_S1), pod(S2, "node2", pref_affinity=AFF_S1)],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA)],
        [0, 0],
        {"ignorePreferredTermsOfExistingPods": True},
    ),
    (
        "existing pods' preferred terms count when the pod has some",
        pod(S1, pref_affinity=[(1, In("nothing", "region", "x"))]),
        [pod(S2, "node1", pref_anti=ANTI_S1), pod(S2, "node2", pref_affinity=AFF_S1)],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA)],
        [0, 100],
        {"ignorePreferredTermsOfExistingPods": True},
    ),
    (
        "affinity with a namespaceSelector",
        pod(
            S1,
            pref_affinity=[
                (5, In("security", "region", "S1", ns_selector={"matchLabels": {"team": "team1"}}))
            ],
        ),
        [
            pod(S1, "node1", namespace="subteam1.team1"),
            pod(S1, "node2", namespace="subteam1.team2"),
        ],
        [node("node1", **RG_CHINA), node("node2", **RG_INDIA)],
        [100, 0],
        None,
    ),
]


@pytest.mark.parametrize(
    "name,incoming,pods,nodes,want,args", PREFERRED_CASES, ids=[c[0] for c in PREFERRED_CASES]
)
def test_preferred_affinity(name, incoming, pods, nodes, want, args):
    assert list(scores(incoming, nodes, pods, args).values()) == want


def test_a_preferred_term_that_does_not_parse_fails_the_score():
    bad = pod(S1, pref_affinity=[(5, In("security", "region"))])
    with pytest.raises(InvalidInput, match="preferredAffinityTerms"):
        scores(bad, three_nodes(), [])


# ---------------------------------------------------------------------------
# args (ValidateInterPodAffinityArgs)


@pytest.mark.parametrize(
    "args,message",
    [
        ({"hardPodAffinityWeight": -1}, r"not in valid range \[0-100\]"),
        ({"hardPodAffinityWeight": 101}, r"not in valid range \[0-100\]"),
        ({"hardPodAffinityWeight": "1"}, "must be an integer"),
        ({"ignorePreferredTermsOfExistingPods": "yes"}, "must be a boolean"),
        ({"bogus": 1}, "unknown field"),
    ],
)
def test_invalid_args(args, message):
    with pytest.raises(ConfigError, match=message):
        InterPodAffinity(args)


def test_valid_args():
    policy = InterPodAffinity(
        {"hardPodAffinityWeight": 100, "ignorePreferredTermsOfExistingPods": True}
    )
    assert (policy.hard_weight, policy.ignore_preferred_of_existing) == (100, True)
    assert InterPodAffinity().hard_weight == 1


# ---------------------------------------------------------------------------
# normalization: Go's float64 expression, in integers


def _go(raw: list[int]) -> list[int]:
    low, high = min(raw), max(raw)
    if high == low:
        return [0] * len(raw)
    return [int(100.0 * ((v - low) / (high - low))) for v in raw]


def test_normalization_matches_gos_float_expression():
    rng = random.Random(7)
    for _ in range(3000):
        n = rng.randint(1, 12)
        spread = rng.choice([3, 7, 100, 1000, 2**20, 2**36])
        raw = [rng.randint(-spread, spread) for _ in range(n)]
        assert min_max_normalize(np.array(raw, np.int64)).tolist() == _go(raw), raw
    for k in range(101):  # every exact quotient, where float64 rounding shows
        raw = [0, k, 100]
        assert min_max_normalize(np.array(raw, np.int64)).tolist() == _go(raw)
        raw = [0, 3 * k, 300]
        assert min_max_normalize(np.array(raw, np.int64)).tolist() == _go(raw)


def test_normalization_with_a_common_factor_matches_gos_float_expression():
    """The factor (the weights' gcd) only picks the path: the answer stays Go's,
    including at the exact quotients 29, 57 and 58 a multiple of the factor meets."""
    rng = random.Random(11)
    for _ in range(3000):
        factor = rng.choice([1, 2, 3, 30, 50, 100, 200])
        n = rng.randint(1, 12)
        counts = [rng.randint(-60, 60) for _ in range(n)]
        raw = [factor * c for c in counts]
        got = min_max_normalize(np.array(raw, np.int64), factor).tolist()
        assert got == _go(raw), (raw, factor)
    for factor in (1, 7, 100):
        for k in range(101):
            for scale in (1, 50, 100, 150):
                raw = [0, factor * k * scale, factor * 100 * scale]
                got = min_max_normalize(np.array(raw, np.int64), factor).tolist()
                assert got == _go(raw), (raw, factor)


# ---------------------------------------------------------------------------
# the counts follow pods and nodes as they change


def test_counts_follow_binds_removals_relabels_and_node_changes():
    state = state_of([node("a", zone="z1"), node("b", zone="z2")], [])
    policy = InterPodAffinity()
    incoming = make_pod(pod({"app": "web"}, anti=[In("app", "zone", "web")]))

    def verdicts():
        view, _, _ = state.view(["a", "b"])
        return policy.filter(incoming, view).tolist()

    assert verdicts() == [True, True]
    state.apply_pod(
        pod({"app": "web"}, "a") | {"metadata": {"name": "w", "uid": "w", "labels": {"app": "web"}}}
    )
    assert verdicts() == [False, True]
    # relabel the pod: no longer matches
    state.apply_pod(
        pod({"app": "db"}, "a") | {"metadata": {"name": "w", "uid": "w", "labels": {"app": "db"}}}
    )
    assert verdicts() == [True, True]
    state.apply_pod(
        pod({"app": "web"}, "b")
        | {"metadata": {"name": "w2", "uid": "w2", "labels": {"app": "web"}}}
    )
    assert verdicts() == [True, False]
    # node b moves to zone z1: its pod now counts there
    state.apply_node(node("b", zone="z1"))
    assert verdicts() == [False, False]
    state.remove_pod("w2")
    assert verdicts() == [True, True]


def test_namespace_labels_change_the_verdicts():
    state = state_of([node("a", zone="z1")], [pod({"app": "web"}, "a", namespace="subteam1.team1")])
    policy = InterPodAffinity()
    incoming = make_pod(
        pod(anti=[In("app", "zone", "web", ns_selector={"matchLabels": {"team": "team1"}})])
    )
    view, _, _ = state.view(["a"])
    assert policy.filter(incoming, view).tolist() == [False]
    state.apply_namespace({"metadata": {"name": "subteam1.team1", "labels": {"team": "other"}}})
    view, _, _ = state.view(["a"])
    assert policy.filter(incoming, view).tolist() == [True]


def test_full_node_objects_read_their_own_topology_labels():
    nodes = [node("a", zone="z1"), node("b", zone="z2")]
    placed = [pod({"app": "web"}, "a")]
    incoming = make_pod(pod(anti=[In("app", "zone", "web")]))
    view = make_objects_view(nodes, placed)
    assert InterPodAffinity().filter(incoming, view).tolist() == [False, True]


def test_preemption_what_if_takes_the_victims_out_of_the_counts():
    """/preempt judges each node without its own victims: an anti-affinity conflict
    with a victim (either way round) is gone; one with a pod that stays is not."""
    from extender.cache.whatif import WhatIfView

    nodes = [node("a", zone="z1"), node("b", zone="z1"), node("c", zone="z2")]
    web_a = pod({"app": "web"}, "a")
    guard_c = pod({"app": "guard"}, "c", anti=[In("app", "zone", "web")])
    state = state_of(nodes, [web_a, guard_c])
    policy = InterPodAffinity()
    incoming = make_pod(pod({"app": "web"}, anti=[In("app", "zone", "web")]))
    ids = np.array([state.table.id_of[n] for n in ("a", "b", "c")], np.int64)
    plain = WhatIfView(state.table, ids, [[], [], []])
    assert policy.filter(incoming, plain).tolist() == [False, False, False]
    victims = [list(state.by_node.on("a").values()), [], list(state.by_node.on("c").values())]
    view = WhatIfView(state.table, ids, victims)
    # a: its web victim goes; b: the web pod on a (same zone) stays; c: the guard goes
    assert policy.filter(incoming, view).tolist() == [True, False, True]
