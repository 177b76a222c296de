"""parse_node shares repeated image entries and label strings (issue 13) without
changing what a NodeInfo says: every field equals the one built without sharing,
also when the shared image table is dropped and refilled between nodes."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.model import node as node_module
from extender.model.node import parse_node
from extender.model.quantity import MAX_AMOUNT

names = st.sampled_from(["a", "b", "registry.io/app:1", "registry.io/app@sha256:00"])
labels = st.dictionaries(st.sampled_from(["zone", "pool", "x/y"]), st.sampled_from(["", "1", "z"]))
images = st.lists(
    st.fixed_dictionaries(
        {"names": st.lists(names, max_size=3), "sizeBytes": st.integers(0, 2 * MAX_AMOUNT)}
    ),
    max_size=4,
)


def a_node(name: str, node_labels: dict, annotations: dict, node_images: list) -> dict:
    return orjson.loads(  # fresh strings, as a decoded request or listing brings them
        orjson.dumps(
            {
                "metadata": {"name": name, "labels": node_labels, "annotations": annotations},
                "status": {"allocatable": {"cpu": "1"}, "images": node_images},
            }
        )
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(labels, labels, images), min_size=1, max_size=6), st.integers(0, 3))
def test_parsed_nodes_say_what_their_objects_say(nodes: list, kept: int) -> None:
    with_kept = node_module.IMAGES_KEPT
    node_module.IMAGES_KEPT = kept  # tiny: the table is dropped again and again
    try:
        for i, (node_labels, annotations, node_images) in enumerate(nodes):
            info = parse_node(a_node(f"n{i}", node_labels, annotations, node_images))
            assert info.labels == tuple(sorted(node_labels.items()))
            assert info.annotations == tuple(sorted(annotations.items()))
            assert info.images == tuple(
                (tuple(img["names"]), min(img["sizeBytes"], MAX_AMOUNT)) for img in node_images
            )
    finally:
        node_module.IMAGES_KEPT = with_kept


def test_nodes_share_their_repeated_strings_and_images() -> None:
    image = [{"names": ["registry.io/app:1"], "sizeBytes": 12345678901}]
    one = parse_node(a_node("n0", {"zone": "zone-a"}, {}, image))
    two = parse_node(a_node("n1", {"zone": "zone-a"}, {}, image))
    assert one.images[0] is two.images[0]
    assert one.labels[0][1] is two.labels[0][1]
    assert one == parse_node(a_node("n0", {"zone": "zone-a"}, {}, image))
