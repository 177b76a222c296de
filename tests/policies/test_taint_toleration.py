"""TaintToleration: case tables from upstream tainttoleration/taint_toleration_test.go.

Filter cases: TestTaintTolerationFilter (one node each, exact reason strings).
Score cases: TestTaintTolerationScore (scores after the reversed DefaultNormalizeScore).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.api import Taint, Toleration, default_normalize_score
from extender.cache.state import ClusterState
from policies.taint_toleration import TaintToleration
from policies.taint_toleration.taint_toleration import first_untolerated_taint
from tests.helpers import make_pod, make_view


def node(name: str, taints: list[dict] | None = None) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"taints": taints or []},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
    }


def pod(tolerations: list[dict] | None = None) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": "pod1", "namespace": "default", "uid": "uid-pod1"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "tolerations": tolerations or [],
        },
    }


def taint(key: str, value: str, effect: str) -> dict:
    return {"key": key, "value": value, "effect": effect}


def tol(key: str = "", value: str = "", effect: str = "", operator: str | None = None) -> dict:
    out = {"key": key, "value": value, "effect": effect}
    if operator is not None:
        out["operator"] = operator
    return out


# (name, tolerations, node taints, expected reason or None when the pod fits)
FILTER_CASES = [
    (
        "a pod having no tolerations can't be scheduled onto a node with nonempty taints",
        [],
        [taint("dedicated", "user1", "NoSchedule")],
        "node(s) had untolerated taint {dedicated: user1}",
    ),
    (
        "a pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
        [tol("dedicated", "user1", "NoSchedule")],
        [taint("dedicated", "user1", "NoSchedule")],
        None,
    ),
    (
        "a pod which can't be scheduled on a node dedicated to user2 with effect NoSchedule",
        [tol("dedicated", "user2", "NoSchedule", "Equal")],
        [taint("dedicated", "user1", "NoSchedule")],
        "node(s) had untolerated taint {dedicated: user1}",
    ),
    (
        "a toleration with operator Exists tolerates the taint on the node",
        [tol("foo", "", "NoSchedule", "Exists")],
        [taint("foo", "bar", "NoSchedule")],
        None,
    ),
    (
        "multiple tolerations, multiple taints, all tolerated",
        [tol("dedicated", "user2", "NoSchedule", "Equal"), tol("foo", "", "NoSchedule", "Exists")],
        [taint("dedicated", "user2", "NoSchedule"), taint("foo", "bar", "NoSchedule")],
        None,
    ),
    (
        "key and value match but a non-empty effect differs: can't be scheduled",
        [tol("foo", "bar", "PreferNoSchedule", "Equal")],
        [taint("foo", "bar", "NoSchedule")],
        "node(s) had untolerated taint {foo: bar}",
    ),
    (
        "key and value match and the toleration's effect is empty: can be scheduled",
        [tol("foo", "bar", "", "Equal")],
        [taint("foo", "bar", "NoSchedule")],
        None,
    ),
    (
        "key and value don't match but the taint is PreferNoSchedule: can be scheduled",
        [tol("dedicated", "user2", "NoSchedule", "Equal")],
        [taint("dedicated", "user1", "PreferNoSchedule")],
        None,
    ),
    (
        "no toleration but the taint is PreferNoSchedule: can be scheduled",
        [],
        [taint("dedicated", "user1", "PreferNoSchedule")],
        None,
    ),
    # Beyond the upstream table: NoExecute filters too, and the reason names the
    # first untolerated NoSchedule/NoExecute taint in the node's order.
    (
        "an untolerated NoExecute taint fails the node",
        [tol("other", "", "", "Exists")],
        [taint("node.kubernetes.io/not-ready", "", "NoExecute")],
        "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
    ),
    (
        "the reason names the first untolerated taint",
        [tol("a", "1", "NoSchedule")],
        [
            taint("soft", "x", "PreferNoSchedule"),
            taint("a", "1", "NoSchedule"),
            taint("b", "2", "NoExecute"),
            taint("c", "3", "NoSchedule"),
        ],
        "node(s) had untolerated taint {b: 2}",
    ),
    (
        "an empty key with operator Exists tolerates every taint",
        [tol("", "", "", "Exists")],
        [taint("b", "2", "NoExecute"), taint("c", "3", "NoSchedule")],
        None,
    ),
]


@pytest.mark.parametrize(
    "tolerations, taints, reason", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES]
)
def test_filter_upstream_cases(tolerations, taints, reason):
    view = make_view([node("nodeA", taints)])
    the_pod = make_pod(pod(tolerations))
    policy = TaintToleration({})
    passed = policy.filter(the_pod, view)
    assert passed.dtype == bool
    assert passed.tolist() == [reason is None]
    if reason is not None:
        assert policy.reasons(the_pod, view, np.array([0])) == [reason]
    assert policy.unresolvable is True


# (name, tolerations, [(node name, taints)], expected normalized scores)
SCORE_CASES = [
    (
        "nodes with taints tolerated by the pod score higher than those with intolerable taints",
        [tol("foo", "bar", "PreferNoSchedule", "Equal")],
        [
            ("nodeA", [taint("foo", "bar", "PreferNoSchedule")]),
            ("nodeB", [taint("foo", "blah", "PreferNoSchedule")]),
        ],
        [100, 0],
    ),
    (
        "nodes whose taints are all tolerated score the same, however many taints",
        [
            tol("cpu-type", "arm64", "PreferNoSchedule", "Equal"),
            tol("disk-type", "ssd", "PreferNoSchedule", "Equal"),
        ],
        [
            ("nodeA", []),
            ("nodeB", [taint("cpu-type", "arm64", "PreferNoSchedule")]),
            (
                "nodeC",
                [
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ),
        ],
        [100, 100, 100],
    ),
    (
        "the more intolerable taints a node has, the lower its score",
        [tol("foo", "bar", "PreferNoSchedule", "Equal")],
        [
            ("nodeA", []),
            ("nodeB", [taint("cpu-type", "arm64", "PreferNoSchedule")]),
            (
                "nodeC",
                [
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ),
        ],
        [100, 50, 0],
    ),
    (
        "only PreferNoSchedule taints and tolerations count for the score",
        [
            tol("cpu-type", "arm64", "NoSchedule", "Equal"),
            tol("disk-type", "ssd", "NoSchedule", "Equal"),
        ],
        [
            ("nodeA", []),
            ("nodeB", [taint("cpu-type", "arm64", "NoSchedule")]),
            (
                "nodeC",
                [
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ),
        ],
        [100, 100, 0],
    ),
    (
        "default behaviour: no taints and no tolerations lands on the node with no taints",
        [],
        [("nodeA", []), ("nodeB", [taint("cpu-type", "arm64", "PreferNoSchedule")])],
        [100, 0],
    ),
    # Beyond the upstream table: integer truncation of the normalization (1 of 3 -> 100-33).
    (
        "normalization truncates like Go's integer division",
        [],
        [
            ("nodeA", [taint("a", "", "PreferNoSchedule")]),
            (
                "nodeB",
                [
                    taint("a", "", "PreferNoSchedule"),
                    taint("b", "", "PreferNoSchedule"),
                    taint("c", "", "PreferNoSchedule"),
                ],
            ),
            ("nodeC", []),
        ],
        [67, 0, 100],
    ),
]


@pytest.mark.parametrize(
    "tolerations, nodes, expected", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES]
)
def test_score_upstream_cases(tolerations, nodes, expected):
    view = make_view([node(name, taints) for name, taints in nodes])
    scores = TaintToleration({}).score(make_pod(pod(tolerations)), view)
    assert scores.dtype == np.int64
    assert scores.tolist() == expected


def test_filter_spreads_verdicts_over_many_nodes_in_request_order():
    nodes = [
        node(f"n{i}", [taint("t", str(i % 3), "NoSchedule")] if i % 2 else []) for i in range(9)
    ]
    view = make_view(nodes, names=[f"n{i}" for i in (8, 7, 6, 5, 4, 3, 2, 1, 0)])
    the_pod = make_pod(pod([tol("t", "1", "NoSchedule")]))
    policy = TaintToleration({})
    passed = policy.filter(the_pod, view)
    # odd nodes carry t=i%3; only t=1 (n1, n7) is tolerated
    assert passed.tolist() == [True, True, True, False, True, False, True, True, True]
    failed = np.flatnonzero(~passed)
    assert policy.reasons(the_pod, view, failed) == [
        "node(s) had untolerated taint {t: 2}",
        "node(s) had untolerated taint {t: 0}",
    ]


def test_cached_verdicts_extend_when_the_table_learns_new_taint_sets():
    state = ClusterState()
    state.load_items([node("a"), node("b", [taint("x", "1", "NoSchedule")])])
    the_pod = make_pod(pod([tol("x", "1", "NoSchedule")]))
    policy = TaintToleration({})
    view, _, _ = state.view(["a", "b"])
    assert policy.filter(the_pod, view).tolist() == [True, True]
    state.apply_node(node("c", [taint("x", "2", "NoSchedule")]))
    view, _, _ = state.view(["a", "b", "c"])
    assert policy.filter(the_pod, view).tolist() == [True, True, False]
    assert policy.reasons(the_pod, view, np.array([2])) == ["node(s) had untolerated taint {x: 2}"]


def test_cached_verdicts_do_not_outlive_the_table_they_were_judged_for():
    """A relist builds a new table whose taint set ids mean other taints: the
    verdicts cached for the old table must not be reused (they are keyed by the
    table's taint epoch, never by a Python id() that a new list could reuse)."""
    state = ClusterState()
    the_pod = make_pod(pod([tol("x", "1", "NoSchedule")]))
    policy = TaintToleration({})
    for round_ in range(20):  # old tables are freed; their ids get reused
        value = "1" if round_ % 2 else "2"
        state.replace_all([node("a", [taint("x", value, "NoSchedule")])], [])
        view, _, _ = state.view(["a"])
        assert policy.filter(the_pod, view).tolist() == [value == "1"], round_


def test_full_node_objects_view_uses_the_objects_taints():
    state = ClusterState()
    state.load_items([node("a"), node("b")])
    sent = [node("a", [taint("x", "1", "NoSchedule")]), node("b")]
    view, _, _ = state.view_of_objects(sent)
    the_pod = make_pod(pod([]))
    policy = TaintToleration({})
    assert policy.filter(the_pod, view).tolist() == [False, True]
    assert policy.reasons(the_pod, view, np.array([0])) == ["node(s) had untolerated taint {x: 1}"]


def test_empty_view():
    view = make_view([node("a")], names=[])
    policy = TaintToleration({})
    assert policy.filter(make_pod(pod()), view).tolist() == []
    assert policy.score(make_pod(pod()), view).tolist() == []


@pytest.mark.parametrize(
    "raw, reverse, expected",
    [
        ([0, 0, 0], False, [0, 0, 0]),
        ([0, 0, 0], True, [100, 100, 100]),
        ([1, 2, 3], False, [33, 66, 100]),
        ([1, 2, 3], True, [67, 34, 0]),
        ([2, 9, 15], False, [13, 60, 100]),
    ],
)
def test_default_normalize_score(raw, reverse, expected):
    assert default_normalize_score(np.array(raw, np.int64), reverse).tolist() == expected


def test_unknown_args_are_a_config_error():
    from extender.model.errors import ConfigError

    with pytest.raises(ConfigError, match="takes no args"):
        TaintToleration({"foo": 1})


# ---- property: the vectorized filter and score equal a per-node reference ----

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from(["", "1", "2"])
EFFECTS = st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])
TAINTS = st.lists(
    st.builds(Taint, KEYS, VALUES, EFFECTS), max_size=4, unique_by=lambda t: (t.key, t.effect)
)
TOLERATIONS = st.lists(
    st.builds(
        Toleration,
        st.sampled_from(["", "a", "b"]),
        st.sampled_from(["Equal", "Exists"]),
        VALUES,
        st.sampled_from(["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
    ),
    max_size=3,
)


def _taint_json(t: Taint) -> dict:
    return taint(t.key, t.value, t.effect)


def _tol_json(t: Toleration) -> dict:
    return tol(t.key, "" if t.operator == "Exists" else t.value, t.effect, t.operator)


@settings(max_examples=60, deadline=None)
@given(st.lists(TAINTS, min_size=1, max_size=6), TOLERATIONS)
def test_vectorized_equals_reference(node_taints, tolerations):
    nodes = [node(f"n{i}", [_taint_json(t) for t in ts]) for i, ts in enumerate(node_taints)]
    the_pod = make_pod(pod([_tol_json(t) for t in tolerations]))
    view = make_view(nodes)
    policy = TaintToleration({})
    passed = policy.filter(the_pod, view)
    expected = [first_untolerated_taint(ts, the_pod.tolerations) is None for ts in node_taints]
    assert passed.tolist() == expected
    raw = [
        sum(
            1
            for t in ts
            if t.effect == "PreferNoSchedule"
            and not any(
                x.tolerates(t) for x in the_pod.tolerations if x.effect in ("", "PreferNoSchedule")
            )
        )
        for ts in node_taints
    ]
    top = max(raw)
    want = [100] * len(raw) if top == 0 else [100 - 100 * r // top for r in raw]
    assert policy.score(the_pod, view).tolist() == want


def test_sets_no_node_carries_any_more_are_judged_once_and_the_fast_path_returns():
    # a node's old taint set stays in the table (ids keep their meaning); the first
    # request judges it too, within its budget, so later requests skip the check
    state = ClusterState()
    state.replace_all(
        [node("a", [{"key": "k", "value": "1", "effect": "NoSchedule"}]), node("b")], []
    )
    state.apply_node(node("a", [{"key": "k", "value": "2", "effect": "NoSchedule"}]))
    view, _, _ = state.view(["a", "b"])
    policy = TaintToleration()
    the_pod = make_pod(pod([{"key": "k", "operator": "Exists"}]))
    assert policy.filter(the_pod, view).tolist() == [True, True]
    _, entry = policy._verdicts(the_pod, view)
    assert entry.count == len(view.taint_sets().sets) == 3
    assert entry.judged.all()
