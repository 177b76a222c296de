"""ImageLocality: the node images and pods of upstream image_locality_test.go.

Expected scores follow the current upstream plugin: the max threshold is
1000 MiB per container (init containers included) and every container whose
image the node holds counts, scaled by the share of nodes holding it.
"""

from __future__ import annotations

import pytest

from extender.model.errors import ConfigError
from policies.image_locality.image_locality import ImageLocality, calculate_priority
from tests.helpers import make_pod, make_view

MB = 1024 * 1024

NODE_40_300_2000 = [
    {"names": ["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
    {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * MB},
    {"names": ["gcr.io/2000:latest"], "sizeBytes": 2000 * MB},
]
NODE_250_10 = [
    {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
    {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB},
]


def image_node(name: str, images: list[dict]) -> dict:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"allocatable": {"pods": "110"}, "images": images},
    }


def image_pod(*images: str, init: tuple[str, ...] = ()) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": im} for i, im in enumerate(init)]
    return {"kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec}


TWO_NODES = [image_node("node1", NODE_40_300_2000), image_node("node2", NODE_250_10)]
THREE_NODES = TWO_NODES + [image_node("node3", [])]

CASES = [
    # node1: 40M/2 = 20M < 23M -> 0; node2: 100 * (250M/2 - 23M) / (1000M*2 - 23M) = 5
    (
        "two images spread on two nodes, prefer the larger image one",
        image_pod("gcr.io/40", "gcr.io/250"),
        TWO_NODES,
        [0, 5],
    ),
    # node1: 100 * ((40M + 300M)/2 - 23M) / (2000M - 23M) = 7
    (
        "two images on one node, prefer this node",
        image_pod("gcr.io/40", "gcr.io/300"),
        TWO_NODES,
        [7, 0],
    ),
    # node1: 100 * (2000M/2 - 23M) / (2000M - 23M) = 49; node2: 10M/2 < 23M -> 0
    ("if exceed limit, use limit", image_pod("gcr.io/10", "gcr.io/2000"), TWO_NODES, [49, 0]),
    # node1: 100 * (2000M/3 - 23M) / (2000M - 23M) = 32
    (
        "if exceed limit, use limit (with node which has no images present)",
        image_pod("gcr.io/10", "gcr.io/2000"),
        THREE_NODES,
        [32, 0, 0],
    ),
    # init containers count, both in the sum and in the number of containers
    (
        "init container image counts",
        image_pod("gcr.io/40", init=("gcr.io/300",)),
        TWO_NODES,
        [7, 0],
    ),
    (
        "init container raises the max threshold",
        image_pod("gcr.io/2000", init=("gcr.io/10",)),
        TWO_NODES,
        [49, 0],
    ),
    # node1: 100 * (300M/2 - 23M) / 1977M = 6; node2: 100 * (250M/2 - 23M) / 1977M = 5
    (
        "tagged image names match exactly",
        image_pod("gcr.io/300:v1", "gcr.io/250:latest"),
        TWO_NODES,
        [6, 5],
    ),
    ("no image on any node", image_pod("gcr.io/none"), TWO_NODES, [0, 0]),
    ("a pod without containers", image_pod(), TWO_NODES, [0, 0]),
]


@pytest.mark.parametrize(
    "incoming, nodes, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_image_locality(incoming, nodes, expected):
    view = make_view(nodes)
    scores = ImageLocality({}).score(make_pod(incoming), view)
    assert scores.dtype.kind == "i"
    assert scores.tolist() == expected


def test_spread_counts_nodes_outside_the_candidates():
    # total nodes and nodes-with-image are cluster-wide, not per request (upstream
    # uses the snapshot's node list): scoring only node1 gives the same 32.
    view = make_view(THREE_NODES, names=["node1"])
    pod = make_pod(image_pod("gcr.io/10", "gcr.io/2000"))
    assert ImageLocality({}).score(pod, view).tolist() == [32]


def test_calculate_priority_bounds():
    import numpy as np

    sums = np.array([0, 23 * MB, 23 * MB + 1, 1000 * MB, 5000 * MB], np.int64)
    assert calculate_priority(sums, 1).tolist() == [0, 0, 0, 100, 100]
    assert calculate_priority(sums, 2).tolist()[3] == 100 * (977 * MB) // (1977 * MB)
    assert calculate_priority(sums, 0).tolist() == [0, 0, 0, 0, 0]


def test_takes_no_args():
    with pytest.raises(ConfigError, match="ImageLocality takes no args"):
        ImageLocality({"x": 1})
