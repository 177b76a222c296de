"""NodeUnschedulable: cases from upstream nodeunschedulable/node_unschedulable_test.go."""

from __future__ import annotations

import numpy as np
import pytest

from extender.cache.state import ClusterState
from extender.model.errors import ConfigError
from policies.node_unschedulable import NodeUnschedulable
from tests.helpers import make_pod, make_view

REASON = "node(s) were unschedulable"


def node(name: str, unschedulable: bool) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": "1", "pods": "10"}},
    }


def pod(tolerations: list[dict] | None = None) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
        "spec": {"containers": [{"name": "c"}], "tolerations": tolerations or []},
    }


UNSCHEDULABLE_TOLERATION = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}

# (name, tolerations, node unschedulable, expected to pass)
CASES = [
    ("does not schedule a pod to an unschedulable node", [], True, False),
    ("schedules a pod to a normal node", [], False, True),
    (
        "schedules a pod tolerating the unschedulable taint to an unschedulable node",
        [UNSCHEDULABLE_TOLERATION],
        True,
        True,
    ),
    # Beyond the upstream table: toleration matching follows ToleratesTaint.
    ("an empty-key Exists toleration tolerates it too", [{"operator": "Exists"}], True, True),
    (
        "a toleration for another effect does not",
        [{**UNSCHEDULABLE_TOLERATION, "effect": "NoExecute"}],
        True,
        False,
    ),
    (
        "an Equal toleration with a value does not (the taint's value is empty)",
        [{**UNSCHEDULABLE_TOLERATION, "operator": "Equal", "value": "true"}],
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    "tolerations, unschedulable, passes", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_upstream_cases(tolerations, unschedulable, passes):
    view = make_view([node("n", unschedulable)])
    the_pod = make_pod(pod(tolerations))
    policy = NodeUnschedulable({})
    assert policy.filter(the_pod, view).tolist() == [passes]
    if not passes:
        assert policy.reasons(the_pod, view, np.array([0])) == [REASON]
    assert policy.unresolvable is True


def test_many_nodes_in_request_order():
    nodes = [node(f"n{i}", i % 3 == 0) for i in range(7)]
    view = make_view(nodes, names=["n6", "n5", "n4", "n3", "n2", "n1", "n0"])
    the_pod = make_pod(pod())
    policy = NodeUnschedulable({})
    passed = policy.filter(the_pod, view)
    assert passed.tolist() == [False, True, True, False, True, True, False]
    assert policy.reasons(the_pod, view, np.flatnonzero(~passed)) == [REASON] * 3


def test_full_node_objects_are_authoritative_for_the_flag():
    state = ClusterState()
    state.load_items([node("a", False), node("b", True)])
    view, _, _ = state.view_of_objects([node("a", True), node("b", False)])
    assert NodeUnschedulable({}).filter(make_pod(pod()), view).tolist() == [False, True]


def test_unknown_args_are_a_config_error():
    with pytest.raises(ConfigError, match="takes no args"):
        NodeUnschedulable({"x": 1})
