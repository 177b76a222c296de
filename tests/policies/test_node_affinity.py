"""NodeAffinity: case tables from upstream nodeaffinity/node_affinity_test.go.

Filter cases: TestNodeAffinity (one node each, exact reason strings).
Score cases: TestNodeAffinityPriority (scores after DefaultNormalizeScore).
Args cases: TestValidateNodeAffinityArgs (apis/config/validation).
"""

from __future__ import annotations

import numpy as np
import pytest

from extender.cache.state import ClusterState
from extender.model.errors import ConfigError, InvalidInput
from policies.node_affinity import NodeAffinity
from tests.helpers import make_pod, make_view

POD_REASON = "node(s) didn't match Pod's node affinity/selector"
ENFORCED_REASON = "node(s) didn't match scheduler-enforced node affinity"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def node(name: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"allocatable": {"cpu": "1", "pods": "10"}},
    }


def pod(node_selector: dict | None = None, node_affinity: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c"}]}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if node_affinity is not None:
        spec["affinity"] = {"nodeAffinity": node_affinity}
    return {"kind": "Pod", "metadata": {"name": "p", "uid": "uid-p"}, "spec": spec}


def expr(key: str, operator: str, *values: str) -> dict:
    out: dict = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def name_in(name: str) -> dict:
    return expr("metadata.name", "In", name)


def required(*terms: dict) -> dict:
    return {REQUIRED: {"nodeSelectorTerms": list(terms)}}


def term(expressions: list | None = None, fields: list | None = None) -> dict:
    out: dict = {}
    if expressions is not None:
        out["matchExpressions"] = expressions
    if fields is not None:
        out["matchFields"] = fields
    return out


# (name, pod, node name, node labels, args, expected reason or None when the pod fits)
FILTER_CASES = [
    ("missing labels", pod({"foo": "bar"}), "node", {}, {}, POD_REASON),
    ("same labels", pod({"foo": "bar"}), "node", {"foo": "bar"}, {}, None),
    (
        "node labels are superset",
        pod({"foo": "bar"}),
        "node",
        {"foo": "bar", "baz": "blah"},
        {},
        None,
    ),
    (
        "node labels are subset",
        pod({"foo": "bar", "baz": "blah"}),
        "node",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    (
        "matchExpressions In matches the node",
        pod(None, required(term([expr("foo", "In", "bar", "value2")]))),
        "node",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "matchExpressions Gt matches the node",
        pod(None, required(term([expr("kernel-version", "Gt", "0204")]))),
        "node",
        {"kernel-version": "0206"},
        {},
        None,
    ),
    (
        "matchExpressions NotIn matches the node",
        pod(None, required(term([expr("mem-type", "NotIn", "DDR", "DDR2")]))),
        "node",
        {"mem-type": "DDR3"},
        {},
        None,
    ),
    (
        "matchExpressions Exists matches the node",
        pod(None, required(term([expr("GPU", "Exists")]))),
        "node",
        {"GPU": "NVIDIA-GRID-K1"},
        {},
        None,
    ),
    (
        "affinity that doesn't match the node's labels won't schedule onto the node",
        pod(None, required(term([expr("foo", "In", "value1", "value2")]))),
        "node",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    (
        "empty matchExpressions match no objects",
        pod(None, required(term([]))),
        "node",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    ("no affinity schedules onto a node", pod(), "node", {"foo": "bar"}, {}, None),
    (
        "affinity with a nil required selector schedules onto a node",
        pod(None, {}),
        "node",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "multiple matchExpressions ANDed that match the node",
        pod(None, required(term([expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER")]))),
        "node",
        {"GPU": "NVIDIA-GRID-K1"},
        {},
        None,
    ),
    (
        "multiple matchExpressions ANDed that don't match the node",
        pod(None, required(term([expr("GPU", "Exists"), expr("GPU", "In", "AMD", "INTER")]))),
        "node",
        {"GPU": "NVIDIA-GRID-K1"},
        {},
        POD_REASON,
    ),
    (
        "multiple terms ORed, one matches the node",
        pod(
            None,
            required(
                term([expr("foo", "In", "bar", "value2")]),
                term([expr("diffkey", "In", "wrong", "value2")]),
            ),
        ),
        "node",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "affinity and nodeSelector both satisfied",
        pod({"foo": "bar"}, required(term([expr("foo", "Exists")]))),
        "node",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "affinity matches but nodeSelector is not satisfied",
        pod({"foo": "bar"}, required(term([expr("foo", "Exists")]))),
        "node",
        {"foo": "barrrrrr"},
        {},
        POD_REASON,
    ),
    (
        "matchFields In matches the node",
        pod(None, required(term(None, [name_in("node1")]))),
        "node1",
        {},
        {},
        None,
    ),
    (
        "matchFields In doesn't match the node",
        pod(None, required(term(None, [name_in("node1")]))),
        "node2",
        {},
        {},
        POD_REASON,
    ),
    (
        "two terms: matchFields doesn't match but matchExpressions does",
        pod(
            None,
            required(
                term(None, [name_in("node1"), name_in("node2")]),
                term([expr("foo", "In", "bar")]),
            ),
        ),
        "node2",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "one term: matchFields doesn't match but matchExpressions does",
        pod(None, required(term([expr("foo", "In", "bar")], [name_in("node1")]))),
        "node2",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    (
        "one term: both matchFields and matchExpressions match",
        pod(None, required(term([expr("foo", "In", "bar")], [name_in("node1")]))),
        "node1",
        {"foo": "bar"},
        {},
        None,
    ),
    (
        "two terms: neither matchFields nor matchExpressions match",
        pod(
            None,
            required(
                term(None, [name_in("node1")]),
                term([expr("foo", "In", "not-match-to-bar")]),
            ),
        ),
        "node2",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    (
        "two terms of node name affinity",
        pod(None, required(term(None, [name_in("node1")]), term(None, [name_in("node2")]))),
        "node2",
        {},
        {},
        None,
    ),
    (
        "two conflicting matchFields requirements",
        pod(None, required(term(None, [name_in("node1"), name_in("node2")]))),
        "node2",
        {"foo": "bar"},
        {},
        POD_REASON,
    ),
    (
        "matches added affinity and the pod's node affinity",
        pod(None, required(term([expr("zone", "In", "foo")]))),
        "node2",
        {"zone": "foo"},
        {"addedAffinity": required(term(None, [name_in("node2")]))},
        None,
    ),
    (
        "matches added affinity but not the pod's node affinity",
        pod(None, required(term([expr("zone", "In", "bar")]))),
        "node2",
        {"zone": "foo"},
        {"addedAffinity": required(term(None, [name_in("node2")]))},
        POD_REASON,
    ),
    (
        "doesn't match added affinity",
        pod(),
        "node2",
        {"zone": "foo"},
        {"addedAffinity": required(term([expr("zone", "In", "bar")]))},
        ENFORCED_REASON,
    ),
    # Beyond the upstream table.
    (
        "added affinity is checked before the pod's own selector",
        pod({"zone": "bar"}),
        "node2",
        {"zone": "foo"},
        {"addedAffinity": required(term([expr("zone", "In", "bar")]))},
        ENFORCED_REASON,
    ),
    (
        "Lt compares integers, not strings",
        pod(None, required(term([expr("gen", "Lt", "10")]))),
        "node",
        {"gen": "9"},
        {},
        None,
    ),
    (
        "Gt on a non-integer label does not match",
        pod(None, required(term([expr("gen", "Gt", "1")]))),
        "node",
        {"gen": "v2"},
        {},
        POD_REASON,
    ),
    (
        "DoesNotExist matches a node without the label",
        pod(None, required(term([expr("gpu", "DoesNotExist")]))),
        "node",
        {"cpu": "x86"},
        {},
        None,
    ),
]


@pytest.mark.parametrize(
    "the_pod, node_name, labels, args, reason",
    [c[1:] for c in FILTER_CASES],
    ids=[c[0] for c in FILTER_CASES],
)
def test_filter_upstream_cases(the_pod, node_name, labels, args, reason):
    view = make_view([node(node_name, labels)])
    info = make_pod(the_pod)
    policy = NodeAffinity(args)
    passed = policy.filter(info, view)
    assert passed.dtype == bool
    assert passed.tolist() == [reason is None]
    if reason is not None:
        assert policy.reasons(info, view, np.array([0])) == [reason]
    assert policy.unresolvable is True


# A pod's own required terms are read lazily (component-helpers
# LazyErrorNodeSelector): a term that does not parse matches no node, the other
# terms still count, and the filter answers with its usual reason (issue 9).
LAZY_FILTER_CASES = [
    (
        "invalid value in the only term (upstream table): unschedulable, not an error",
        pod(None, required(term([expr("foo", "NotIn", "invalid value: ___@#$%^")]))),
        {"foo": "bar"},
        POD_REASON,
    ),
    (
        "invalid value beside a matching term",
        pod(
            None,
            required(term([expr("foo", "In", "b@r")]), term([expr("foo", "In", "bar")])),
        ),
        {"foo": "bar"},
        None,
    ),
    (
        "Gt with a non-integer beside a matching term",
        pod(None, required(term([expr("gen", "Gt", "2.5")]), term([expr("foo", "Exists")]))),
        {"foo": "bar", "gen": "3"},
        None,
    ),
    (
        "matchFields with two values beside a matching term",
        pod(
            None,
            required(
                term(None, [expr("metadata.name", "In", "node", "other")]),
                term([expr("foo", "Exists")]),
            ),
        ),
        {"foo": "bar"},
        None,
    ),
    (
        "matchFields with two values alone",
        pod(None, required(term(None, [expr("metadata.name", "In", "node", "other")]))),
        {},
        POD_REASON,
    ),
    (
        "the nodeSelector still applies beside an unparseable term",
        pod(
            {"disk": "ssd"}, required(term([expr("gen", "Lt", "x")]), term([expr("foo", "Exists")]))
        ),
        {"foo": "bar"},
        POD_REASON,
    ),
]


@pytest.mark.parametrize(
    "the_pod, labels, reason",
    [c[1:] for c in LAZY_FILTER_CASES],
    ids=[c[0] for c in LAZY_FILTER_CASES],
)
def test_unparseable_required_terms_match_no_node(the_pod, labels, reason):
    view = make_view([node("node", labels)])
    info = make_pod(the_pod)  # parsing the pod does not fail
    policy = NodeAffinity({})
    assert policy.filter(info, view).tolist() == [reason is None]
    if reason is not None:
        assert policy.reasons(info, view, np.array([0])) == [reason]


def test_nodeselector_with_odd_values_is_matched_as_is():
    # Upstream builds spec.nodeSelector with SelectorFromSet, which validates
    # nothing: the pair must simply be among the node's labels.
    the_pod = pod({"odd key!": "not a label value?"})
    view = make_view([node("a", {"odd key!": "not a label value?"}), node("b", {"odd key!": "x"})])
    info = make_pod(the_pod)
    assert NodeAffinity({}).filter(info, view).tolist() == [True, False]


def test_unparseable_preferred_term_fails_the_score_not_the_filter():
    # NewPreferredSchedulingTerms fails on it, so the plugin's PreScore fails
    # the pod's scheduling cycle; the filter never reads preferred terms.
    affinity = {
        PREFERRED: [
            {"weight": 2, "preference": term([expr("foo", "In", "bar")])},
            {"weight": 3, "preference": term([expr("gen", "Gt", "two")])},
        ]
    }
    view = make_view([node("a", {"foo": "bar"}), node("b")])
    info = make_pod(pod(None, affinity))
    policy = NodeAffinity({})
    assert policy.filter(info, view).tolist() == [True, True]
    with pytest.raises(InvalidInput) as err:
        policy.score(info, view)
    assert str(err.value).startswith(
        f"Pod: spec.affinity.nodeAffinity.{PREFERRED}[1].preference.matchExpressions[0].values[0]: "
    )


def test_weight_zero_or_empty_preferred_terms_are_never_parsed():
    affinity = {
        PREFERRED: [
            {"weight": 0, "preference": term([expr("gen", "Gt", "two")])},
            {"weight": 4, "preference": term([])},
            {"weight": 2, "preference": term([expr("foo", "In", "bar")])},
        ]
    }
    view = make_view([node("a", {"foo": "bar"}), node("b")])
    assert NodeAffinity({}).score(make_pod(pod(None, affinity)), view).tolist() == [100, 0]


def test_weights_above_100_score_as_upstream():
    affinity = {
        PREFERRED: [
            {"weight": 150, "preference": term([expr("foo", "In", "bar")])},
            {"weight": 50, "preference": term([expr("key", "In", "value")])},
        ]
    }
    view = make_view([node("a", LABEL1), node("b", LABEL2), node("c", LABEL5)])
    assert NodeAffinity({}).score(make_pod(pod(None, affinity)), view).tolist() == [75, 25, 100]


def test_negative_weights_fail_only_when_a_score_stays_negative():
    def affinity(negative):
        return {
            PREFERRED: [
                {"weight": 100, "preference": term([expr("foo", "In", "bar")])},
                {"weight": negative, "preference": term([expr("key", "In", "value")])},
            ]
        }

    view = make_view([node("a", LABEL1), node("b", LABEL2), node("c", {})])
    # -100 x 1 / 100 truncates to -1: out of range, as kube-scheduler's framework says
    with pytest.raises(InvalidInput, match="node 'b' the score -1"):
        NodeAffinity({}).score(make_pod(pod(None, affinity(-1))), view)
    # a sum of -1 against a maximum of 200 truncates to 0 in Go: no error
    wide = {
        PREFERRED: [
            *affinity(-1)[PREFERRED],
            {"weight": 100, "preference": term([expr("foo", "Exists")])},
        ]
    }
    assert NodeAffinity({}).score(make_pod(pod(None, wide)), view).tolist() == [100, 0, 0]


LABEL1 = {"foo": "bar"}
LABEL2 = {"key": "value"}
LABEL3 = {"az": "az1"}
LABEL4 = {"abc": "az11", "def": "az22"}
LABEL5 = {"foo": "bar", "key": "value", "az": "az1"}

AFFINITY1 = {PREFERRED: [{"weight": 2, "preference": term([expr("foo", "In", "bar")])}]}
AFFINITY2 = {
    PREFERRED: [
        {"weight": 2, "preference": term([expr("foo", "In", "bar")])},
        {"weight": 4, "preference": term([expr("key", "In", "value")])},
        {
            "weight": 5,
            "preference": term(
                [expr("foo", "In", "bar"), expr("key", "In", "value"), expr("az", "In", "az1")]
            ),
        },
    ]
}

# (name, pod's node affinity, [(node name, labels)], args, expected normalized scores)
SCORE_CASES = [
    (
        "all nodes score the same when NodeAffinity is nil",
        None,
        [("node1", LABEL1), ("node2", LABEL2), ("node3", LABEL3)],
        {},
        [0, 0, 0],
    ),
    (
        "no node matches the preferred terms: every score is zero",
        AFFINITY1,
        [("node1", LABEL4), ("node2", LABEL2), ("node3", LABEL3)],
        {},
        [0, 0, 0],
    ),
    (
        "only node1 matches the preferred terms",
        AFFINITY1,
        [("node1", LABEL1), ("node2", LABEL2), ("node3", LABEL3)],
        {},
        [100, 0, 0],
    ),
    (
        "all nodes match the preferred terms with different priorities",
        AFFINITY2,
        [("node1", LABEL1), ("node5", LABEL5), ("node2", LABEL2)],
        {},
        [18, 100, 36],
    ),
    (
        "added affinity",
        None,
        [("node1", LABEL1), ("node2", LABEL2)],
        {"addedAffinity": AFFINITY1},
        [100, 0],
    ),
    (
        "added affinity and the pod's own preferred terms add up",
        AFFINITY1,
        [("node1", LABEL1), ("node2", LABEL2), ("node3", LABEL5)],
        {
            "addedAffinity": {
                PREFERRED: [{"weight": 3, "preference": term([expr("key", "In", "value")])}]
            }
        },
        [40, 60, 100],
    ),
    # Beyond the upstream table: matchFields in a preferred term.
    (
        "a preferred term on the node name",
        {PREFERRED: [{"weight": 7, "preference": term(None, [name_in("node2")])}]},
        [("node1", {}), ("node2", {})],
        {},
        [0, 100],
    ),
]


@pytest.mark.parametrize(
    "affinity, nodes, args, expected",
    [c[1:] for c in SCORE_CASES],
    ids=[c[0] for c in SCORE_CASES],
)
def test_score_upstream_cases(affinity, nodes, args, expected):
    view = make_view([node(name, labels) for name, labels in nodes])
    scores = NodeAffinity(args).score(make_pod(pod(None, affinity)), view)
    assert scores.dtype == np.int64
    assert scores.tolist() == expected


def test_many_nodes_filter_and_reasons_in_request_order():
    nodes = [
        node(f"n{i}", {"zone": f"z{i % 3}", "disk": "ssd" if i % 2 else "hdd"}) for i in range(12)
    ]
    names = [f"n{i}" for i in reversed(range(12))]
    view = make_view(nodes, names=names)
    args = {"addedAffinity": required(term([expr("zone", "NotIn", "z0")]))}
    info = make_pod(pod({"disk": "ssd"}))
    policy = NodeAffinity(args)
    passed = policy.filter(info, view)
    expected = [(i % 3 != 0) and (i % 2 == 1) for i in reversed(range(12))]
    assert passed.tolist() == expected
    failed = np.flatnonzero(~passed)
    want = [
        ENFORCED_REASON if i % 3 == 0 else POD_REASON
        for i in reversed(range(12))
        if not ((i % 3 != 0) and (i % 2 == 1))
    ]
    assert policy.reasons(info, view, failed) == want


def test_full_node_objects_view_uses_the_objects_labels():
    state = ClusterState()
    state.load_items([node("a", {"foo": "bar"}), node("b")])
    view, _, _ = state.view_of_objects([node("a"), node("b", {"foo": "bar"})])
    info = make_pod(pod({"foo": "bar"}, AFFINITY1))
    policy = NodeAffinity({})
    assert policy.filter(info, view).tolist() == [False, True]
    assert policy.score(info, view).tolist() == [0, 100]


# ---- args: TestValidateNodeAffinityArgs ----

VALID_ADDED = {
    REQUIRED: {"nodeSelectorTerms": [term([expr("label-1", "In", "label-1-val")])]},
    PREFERRED: [{"weight": 1, "preference": term(None, [name_in("node-1")])}],
}


@pytest.mark.parametrize("args", [{}, {"addedAffinity": None}, {"addedAffinity": VALID_ADDED}])
def test_valid_args(args):
    policy = NodeAffinity(args)
    view = make_view([node("node-1", {"label-1": "label-1-val"}), node("node-2")])
    info = make_pod(pod())
    if args.get("addedAffinity"):
        assert policy.filter(info, view).tolist() == [True, False]
        assert policy.score(info, view).tolist() == [100, 0]
    else:
        assert policy.filter(info, view).tolist() == [True, True]


def test_invalid_added_affinity_reports_every_field():
    args = {
        "addedAffinity": {
            REQUIRED: {"nodeSelectorTerms": [term([expr("invalid/label/key", "In", "v")])]},
            PREFERRED: [
                {"weight": 1, "preference": term(None, [expr("metadata.name", "In", "n1", "n2")])}
            ],
        }
    }
    with pytest.raises(ConfigError) as err:
        NodeAffinity(args)
    message = str(err.value)
    assert f"addedAffinity.{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].key" in message
    assert f"addedAffinity.{PREFERRED}[0].preference.matchFields[0].values" in message


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"addedAfinity": {}}, "unknown field(s) addedAfinity"),
        ({"addedAffinity": []}, "must be a NodeAffinity object"),
        ({"addedAffinity": {"requiredDuringSchedulingRequiredDuringExecution": {}}}, "unknown"),
        (
            {
                "addedAffinity": {
                    PREFERRED: [{"weight": "heavy", "preference": term([expr("a", "Exists")])}]
                }
            },
            "weight",
        ),
        (
            {"addedAffinity": {REQUIRED: {"nodeSelectorTerms": [term([expr("a", "Gt", "x")])]}}},
            "matchExpressions[0].values[0]",
        ),
    ],
)
def test_bad_args_are_config_errors(args, fragment):
    with pytest.raises(ConfigError, match="NodeAffinity args") as err:
        NodeAffinity(args)
    assert fragment in str(err.value)


def test_added_affinity_weight_is_not_range_checked():
    # ValidateNodeAffinityArgs parses the terms (NewPreferredSchedulingTerms) and
    # checks nothing else: a weight of 101 is accepted.
    args = {
        "addedAffinity": {PREFERRED: [{"weight": 101, "preference": term([expr("a", "Exists")])}]}
    }
    view = make_view([node("x", {"a": "1"}), node("y")])
    assert NodeAffinity(args).score(make_pod(pod()), view).tolist() == [100, 0]


def test_added_required_with_no_terms_matches_nothing():
    view = make_view([node("a"), node("b")])
    policy = NodeAffinity({"addedAffinity": {REQUIRED: {"nodeSelectorTerms": []}}})
    info = make_pod(pod())
    assert policy.filter(info, view).tolist() == [False, False]
    assert policy.reasons(info, view, np.array([0, 1])) == [ENFORCED_REASON] * 2
