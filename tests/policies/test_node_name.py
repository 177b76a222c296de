"""NodeName: cases from upstream nodename/node_name_test.go."""

from __future__ import annotations

import numpy as np
import pytest

from extender.cache.state import ClusterState
from extender.model.errors import ConfigError
from policies.node_name import NodeName
from tests.helpers import make_pod, make_view

REASON = "node(s) didn't match the requested node name"


def node(name: str) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"allocatable": {"cpu": "1", "pods": "10"}},
    }


def pod(node_name: str | None) -> dict:
    spec: dict = {"containers": [{"name": "c"}]}
    if node_name is not None:
        spec["nodeName"] = node_name
    return {"kind": "Pod", "metadata": {"name": "p", "uid": "uid-p"}, "spec": spec}


# (name, pod's spec.nodeName, node name, expected to pass)
CASES = [
    ("no host specified", None, "foo", True),
    ("host matches", "foo", "foo", True),
    ("host doesn't match", "bar", "foo", False),
    # Beyond the upstream table: an empty string is "no host" too; names compare exactly.
    ("empty nodeName", "", "foo", True),
    ("prefix is not a match", "fo", "foo", False),
]


@pytest.mark.parametrize(
    "node_name, candidate, passes", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_upstream_cases(node_name, candidate, passes):
    view = make_view([node(candidate)])
    the_pod = make_pod(pod(node_name))
    policy = NodeName({})
    assert policy.filter(the_pod, view).tolist() == [passes]
    if not passes:
        assert policy.reasons(the_pod, view, np.array([0])) == [REASON]
    assert policy.unresolvable is True


def test_only_the_named_node_passes_among_many():
    names = [f"node-{i}" for i in range(50)]
    view = make_view([node(n) for n in names], names=list(reversed(names)))
    the_pod = make_pod(pod("node-7"))
    policy = NodeName({})
    passed = policy.filter(the_pod, view)
    assert passed.dtype == bool
    assert np.flatnonzero(passed).tolist() == [42]
    failed = np.flatnonzero(~passed)
    assert policy.reasons(the_pod, view, failed) == [REASON] * 49


def test_full_node_objects_view():
    state = ClusterState()
    state.load_items([node("a"), node("b")])
    view, _, _ = state.view_of_objects([node("b"), node("a")])
    assert NodeName({}).filter(make_pod(pod("a")), view).tolist() == [False, True]


def test_unknown_args_are_a_config_error():
    with pytest.raises(ConfigError, match="takes no args"):
        NodeName({"x": 1})
