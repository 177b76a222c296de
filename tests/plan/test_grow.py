"""`plan grow`: the cheapest shape that fits, one node per pod at most, never a loop."""

from __future__ import annotations

import orjson

from extender.cli import main
from tests.plan.objects import deployment, listing, node, pod_spec


def _write(path, obj):
    path.write_bytes(orjson.dumps(obj))
    return str(path)


def _grow(tmp_path, capsys, cluster, workload, shapes):
    argv = ["plan", "grow", "--workload", _write(tmp_path / "w.json", listing(workload))]
    argv += ["--snapshot", _write(tmp_path / "c.json", listing(cluster))]
    for i, s in enumerate(shapes):
        argv += ["--node-shape", _write(tmp_path / f"shape{i}.json", s)]
    assert main([*argv, "--output", "json"]) == 0
    return orjson.loads(capsys.readouterr().out)


SMALL = node("small", "2", "8Gi", annotations={"podsift.io/price": "1"})
BIG = node("big", "8", "32Gi", annotations={"podsift.io/price": "3.5"})


def test_cheapest_shape_that_fits(tmp_path, capsys):
    doc = _grow(
        tmp_path,
        capsys,
        [node("existing", "1", "4Gi")],
        [deployment("one", 5, pod_spec("1")), deployment("four", 2, pod_spec("4"))],
        [BIG, SMALL],
    )
    assert doc["placed"] == 7
    assert doc["added"] == {"small": 2, "big": 1}  # cheapest first
    nodes = {p["pod"]: p["node"] for p in doc["placements"]}
    assert nodes["default/one-0"] == "existing"
    assert nodes["default/one-1"] == "small-0" and nodes["default/one-4"] == "small-1"
    assert nodes["default/four-0"] == nodes["default/four-1"] == "big-0"
    assert doc["added_price"] == "5.5"
    # the pods on added nodes request 4 x 1 + 2 x 4 = 12 cpu: two of the largest shape
    assert doc["added_lower_bound"] == 2
    added = [doc["nodes"][n] for n in ("small-0", "small-1", "big-0")]
    assert all(sum(n["requested_before"].values()) == 0 for n in added)


def test_a_pod_no_shape_fits_is_reported_and_nothing_added(tmp_path, capsys):
    doc = _grow(tmp_path, capsys, [], [deployment("giant", 1000, pod_spec("64"))], [SMALL, BIG])
    assert doc["placed"] == 0 and doc["added"] == {"small": 0, "big": 0}
    assert doc["unplaced"] == 1000
    (entry,) = doc["unplaced_groups"]
    assert len(entry["pods"]) == 1000
    assert entry["message"].startswith("fits no empty node of any shape")
    assert "small: Insufficient cpu" in entry["message"]
    # no node at all: the reasons are the shapes' empty nodes', once per pod
    assert doc["unplaced_reasons"] == {"Insufficient cpu": 1000}


def test_shapes_follow_node_selectors(tmp_path, capsys):
    gpu = node("gpu", "8", "32Gi", labels={"gpu": "yes"}, annotations={"podsift.io/price": "9"})
    doc = _grow(
        tmp_path,
        capsys,
        [],
        [deployment("train", 3, pod_spec("3", node_selector={"gpu": "yes"}))],
        [SMALL, gpu],
    )
    assert doc["added"] == {"small": 0, "gpu": 2}
    assert [p["node"] for p in doc["placements"]] == ["gpu-0", "gpu-0", "gpu-1"]


def test_unplaced_reasons_when_no_shape_fits_count_the_nodes_and_the_shapes(tmp_path, capsys):
    tainted = node("t", "64", "256Gi", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    doc = _grow(tmp_path, capsys, [tainted], [deployment("giant", 3, pod_spec("32"))], [SMALL])
    assert doc["unplaced"] == 3
    # the existing node's reason and the empty shape's, each pod counted once per reason
    assert doc["unplaced_reasons"] == {
        "Insufficient cpu": 3,
        "node(s) had untolerated taint {k: v}": 3,
    }


def test_place_over_no_nodes_gives_kube_schedulers_reason(tmp_path, capsys):
    argv = ["plan", "place", "--workload", _write(tmp_path / "w.json", deployment("w", 2, {}))]
    argv += ["--snapshot", _write(tmp_path / "c.json", listing([]))]
    assert main([*argv, "--output", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert (doc["placed"], doc["unplaced"], doc["nodes"]) == (0, 2, {})
    assert doc["unplaced_reasons"] == {"no nodes available to schedule pods": 2}
