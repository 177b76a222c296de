"""NodeView: every array it hands out is read-only; labels and annotations by key."""

from __future__ import annotations

import numpy as np
import pytest

from extender.model.hostports import HostPort
from extender.model.selectors import compile_label_map, compile_preferred_terms
from extender.testing import make_objects_view, make_view, node, pod

NODES = [
    node(
        "a",
        labels={"zone": "z1"},
        annotations={"capacity.example.com/ssd": "100"},
        taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}],
        images=[{"names": ["nginx:1"], "sizeBytes": 50}],
        extra={"example.com/gpu": "2"},
    ),
    node("b", labels={"zone": "z2"}, unschedulable=True),
    node("c"),
]
PODS = [
    pod("p1", cpu="1", memory="1Gi", node_name="a"),
    pod(
        "p2",
        node_name="b",
        containers=[
            {
                "name": "c",
                "image": "x",
                "resources": {"requests": {"cpu": "500m"}},
                "ports": [{"containerPort": 80, "hostPort": 80}],
            }
        ],
    ),
]


def _arrays(view):
    """Every array accessor of the view, by name."""
    selector = compile_label_map({"zone": "z1"})
    preferred = compile_preferred_terms(
        [
            {
                "weight": 3,
                "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
            }
        ],
        "preferred",
    )
    return {
        "names_array": view.names_array,
        "allocatable": view.allocatable("cpu"),
        "allocatable(missing)": view.allocatable("example.com/none"),
        "requested": view.requested("memory"),
        "requested(pods)": view.requested("pods"),
        "nonzero_requested": view.nonzero_requested("cpu"),
        "unschedulable": view.unschedulable,
        "taint_sets.ids": view.taint_sets().ids,
        "label_mask": view.label_mask(selector),
        "preferred_weights": view.preferred_weights(preferred),
        "label_values": view.label_values("zone"),
        "annotation_values": view.annotation_values("capacity.example.com/ssd"),
        "port_conflicts": view.port_conflicts((HostPort("", "TCP", 80),)),
        "port_conflicts(none)": view.port_conflicts(()),
        "image_sizes": view.image_sizes("nginx:1"),
        "image_sizes(missing)": view.image_sizes("nope:latest"),
    }


@pytest.mark.parametrize(
    "build, names",
    [
        (lambda: make_view(NODES, PODS), ["a", "b", "c"]),  # contiguous: slices of the table
        (lambda: make_view(NODES, PODS, names=["c", "a"]), ["c", "a"]),  # gathered copies
        (lambda: make_view(NODES, PODS, names=["c", "a"]).subset(np.array([1])), ["a"]),
        (lambda: make_objects_view(NODES, PODS), ["a", "b", "c"]),
    ],
    ids=["all-names", "some-names", "subset", "node-objects"],
)
def test_every_array_is_read_only(build, names):
    view = build()
    assert view.names == names
    for what, arr in _arrays(view).items():
        assert isinstance(arr, np.ndarray), what
        assert arr.shape == (len(names),), what
        assert not arr.flags.writeable, what
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = arr  # an in-place edit would corrupt the cache or the next plugin


def test_a_plugin_cannot_corrupt_the_table_for_the_next_request():
    view = make_view(NODES, PODS)
    with pytest.raises(ValueError):
        view.requested("cpu")[0] = 0
    assert make_view(NODES, PODS).requested("cpu").tolist() == [1000, 500, 0]


def test_values_by_key_with_none_where_absent():
    for view in (make_view(NODES, PODS), make_objects_view(NODES, PODS)):
        assert view.label_values("zone").tolist() == ["z1", "z2", None]
        assert view.annotation_values("capacity.example.com/ssd").tolist() == ["100", None, None]
        assert view.annotation_values("other").tolist() == [None, None, None]
    some = make_view(NODES, PODS, names=["c", "a"])
    assert some.annotation_values("capacity.example.com/ssd").tolist() == [None, "100"]


def test_annotations_follow_node_updates():
    from tests.helpers import make_state

    state = make_state(NODES)
    view, _, _ = state.view(["a", "b"])
    assert view.annotation_values("capacity.example.com/ssd").tolist() == ["100", None]
    state.apply_node(node("b", annotations={"capacity.example.com/ssd": "7"}))
    view, _, _ = state.view(["a", "b"])
    assert view.annotation_values("capacity.example.com/ssd").tolist() == ["100", "7"]
    state.remove_node("a")
    view, _, _ = state.view(["b"])
    assert view.annotation_values("capacity.example.com/ssd").tolist() == ["7"]


def test_taint_sets_keep_their_epoch_within_a_table_and_not_across():
    from tests.helpers import make_state

    state = make_state(NODES)
    first = state.view(["a", "b"])[0].taint_sets()
    assert first.sets[first.ids[0]][0].key == "k" and first.sets[first.ids[1]] == ()
    state.apply_node(node("c", taints=[{"key": "new", "effect": "NoExecute"}]))
    second = state.view(["a", "b", "c"])[0].taint_sets()
    assert second.epoch == first.epoch  # same table: ids kept their meaning, sets grew
    assert second.sets[second.ids[2]][0].key == "new"
    state.replace_all(NODES, [])  # a relist: a new table, new ids
    assert state.view(["a"])[0].taint_sets().epoch != first.epoch
    objects = make_objects_view(NODES)
    assert objects.taint_sets().epoch != make_objects_view(NODES).taint_sets().epoch
