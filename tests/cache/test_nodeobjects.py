"""Full Node objects are parsed once per identity and reused across requests (issue 9)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from extender.cache import nodeobjects
from extender.cache import state as state_module
from extender.cache.nodeobjects import NodeObjects, identity
from extender.model.errors import InvalidInput
from extender.model.selectors import compile_node_selector
from tests.helpers import make_state, node, pod


@pytest.fixture
def parses(monkeypatch):
    """Counts the Node objects the store parses."""
    calls: list[str] = []
    real = nodeobjects.parse_node

    def counting(obj, field="node"):
        calls.append(field)
        return real(obj, field)

    monkeypatch.setattr(nodeobjects, "parse_node", counting)
    return calls


def versioned(name: str, rv: str | None, uid: str = "u", **kw) -> dict:
    obj = node(name, **kw)
    obj["metadata"]["uid"] = f"{uid}-{name}"
    if rv is not None:
        obj["metadata"]["resourceVersion"] = rv
    return obj


def zone_of(state, objects) -> list:
    view, _, _ = state.view_of_objects(objects)
    return view.label_values("zone").tolist()


ZONE_A = compile_node_selector(
    {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
        ]
    },
    "affinity",
)


def test_same_resource_version_is_parsed_once(parses):
    state = make_state([node("n1"), node("n2")])
    sent = [versioned("n1", "7", labels={"zone": "a"}), versioned("n2", "9")]
    assert zone_of(state, sent) == ["a", None]
    assert len(parses) == 2
    assert zone_of(state, copy.deepcopy(sent)) == ["a", None]  # equal objects, not the same
    assert len(parses) == 2


def test_a_new_resource_version_is_parsed_and_its_labels_seen(parses):
    state = make_state([node("n1")])
    view, _, _ = state.view_of_objects([versioned("n1", "7", labels={"zone": "a"})])
    assert view.label_mask(ZONE_A).tolist() == [True]
    view, _, _ = state.view_of_objects([versioned("n1", "8", labels={"zone": "b"})])
    assert view.label_values("zone").tolist() == ["b"]
    assert view.label_mask(ZONE_A).tolist() == [False]
    assert len(parses) == 2
    # a node deleted and made again under the same name: another uid
    view, _, _ = state.view_of_objects([versioned("n1", "8", uid="new", cpu="16")])
    assert view.allocatable("cpu").tolist() == [16000]
    assert len(parses) == 3


def test_objects_without_resource_version_are_known_by_their_content(parses):
    state = make_state([node("n1")])
    plain = versioned(
        "n1", None, labels={"zone": "a"}, taints=[{"key": "k", "effect": "NoSchedule"}]
    )
    assert zone_of(state, [plain]) == ["a"]
    assert zone_of(state, [copy.deepcopy(plain)]) == ["a"]
    assert len(parses) == 1
    changed = copy.deepcopy(plain)
    changed["spec"]["taints"] = []
    changed["metadata"]["labels"]["zone"] = "b"
    view, _, _ = state.view_of_objects([changed])
    assert view.label_values("zone").tolist() == ["b"]
    assert view.taint_sets().sets[view.taint_sets().ids[0]] == ()
    assert len(parses) == 2
    empty_rv = versioned("n1", "", labels={"zone": "c"})  # "" is no resourceVersion
    assert zone_of(state, [empty_rv]) == ["c"]
    assert isinstance(identity(empty_rv), bytes)


def test_objects_that_are_not_json_are_parsed_every_time(parses):
    state = make_state([node("n1")])
    odd = versioned("n1", None, labels={"zone": "a"})
    odd["status"]["nodeInfo"] = {1: "a non-string key"}  # in-process callers may do this
    assert identity(odd) is None
    for _ in range(300):
        assert zone_of(state, [odd]) == ["a"]
    assert len(parses) == 300
    assert len(state.node_objects) == 0  # no row kept for them past their request
    assert state.node_objects.capacity <= 256


def test_a_bad_object_is_an_error_naming_it_and_is_not_cached(parses):
    state = make_state([node("n1"), node("n2")])
    bad = versioned("n2", "3")
    bad["spec"]["taints"] = [{"key": "k", "effect": "Sometimes"}]
    with pytest.raises(InvalidInput, match=r"Nodes\.items\[1\]\.spec\.taints\[0\]\.effect"):
        state.view_of_objects([versioned("n1", "1"), bad])
    with pytest.raises(InvalidInput, match=r"Nodes\.items\[0\]"):
        state.view_of_objects([bad])  # the same identity is refused again


def test_rows_stay_bounded_under_a_stream_of_changing_nodes(monkeypatch):
    monkeypatch.setattr(state_module, "OBJECT_ROWS_MIN", 8)
    state = make_state([node(f"n{i}") for i in range(3)])
    limit = max(8, state_module.OBJECT_ROWS_PER_NODE * 3)
    for rv in range(200):
        sent = [versioned(f"n{i}", str(rv), labels={"zone": f"z{rv}"}) for i in range(3)]
        view, _, _ = state.view_of_objects(sent)
        assert view.label_values("zone").tolist() == [f"z{rv}"] * 3
        assert len(state.node_objects) <= limit
        assert state.node_objects.capacity <= 256  # rows are reused, not appended
    # the append-only indexes do not grow forever either: the store is renewed
    assert state.node_objects.parsed <= state_module.OBJECT_ROWS_RENEW * limit + 3


def test_a_request_larger_than_the_bound_keeps_all_its_rows(monkeypatch):
    monkeypatch.setattr(state_module, "OBJECT_ROWS_MIN", 2)
    names = [f"n{i}" for i in range(20)]
    state = make_state([node(n) for n in names])
    state.view_of_objects([versioned(n, "old", labels={"zone": "old"}) for n in names])
    sent = [versioned(n, "1", labels={"zone": n}) for n in names]
    sent += [versioned(n, "2", labels={"zone": n + "'"}) for n in names]  # the same names again
    view, known, unknown = state.view_of_objects(sent)
    assert known is None and not unknown
    assert view.label_values("zone").tolist() == names + [n + "'" for n in names]


def test_store_rows_gather_like_the_objects():
    store = NodeObjects(capacity=2)
    objs = [
        versioned("a", "1", cpu="2", labels={"zone": "a"}, unschedulable=True),
        versioned("b", "1", extra={"example.com/gpu": "4"}, annotations={"x": "y"}),
        versioned("c", "1", taints=[{"key": "k", "value": "v", "effect": "NoExecute"}]),
    ]
    rows = store.rows_of(objs, "Nodes.items", limit=10)
    assert store.names[rows].tolist() == ["a", "b", "c"]
    assert store.alloc_column("cpu")[rows].tolist() == [2000, 4000, 4000]
    assert store.alloc_column("example.com/gpu")[rows].tolist() == [0, 4, 0]
    assert store.unschedulable[rows].tolist() == [True, False, False]
    assert store.annotation_column("x")[rows].tolist() == [None, "y", None]
    assert [store.taint_sets[t] != () for t in store.taint_set[rows]] == [False, False, True]
    again = store.rows_of(list(reversed(objs)), "Nodes.items", limit=10)
    assert again.tolist() == rows[::-1].tolist()


def test_objects_view_keeps_taint_epoch_across_requests_of_one_state():
    state = make_state([node("a"), node("b")])
    first, _, _ = state.view_of_objects([versioned("a", "1"), versioned("b", "1")])
    second, _, _ = state.view_of_objects([versioned("b", "1"), versioned("a", "2")])
    assert first.taint_sets().epoch == second.taint_sets().epoch  # policies may cache verdicts
    assert (
        first.taint_sets().epoch
        != make_state([node("a")]).view_of_objects([versioned("a", "1")])[0].taint_sets().epoch
    )


def test_pods_still_come_from_the_cache():
    state = make_state([node("a", cpu="4")], [pod("p", cpu="1", node_name="a")])
    view, _, _ = state.view_of_objects([versioned("a", "5", cpu="16")])
    assert view.allocatable("cpu").tolist() == [16000]
    assert view.requested("cpu").tolist() == [1000]
    assert np.array_equal(view.subset(np.array([0])).allocatable("cpu"), [16000])
