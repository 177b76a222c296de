"""The external contract of `podsift plan` (CONTRACT §6), pinned: outside checkers run
these exact command lines and read these exact keys, with these types."""

from __future__ import annotations

import orjson
import pytest

from extender.cli import main
from tests.plan.objects import deployment, listing, node, pod_spec, running_pod

TAINT = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
NODE_KEYS = {"allocatable", "requested_before", "requested_after"}


def _write(path, obj):
    path.write_bytes(orjson.dumps(obj))
    return str(path)


@pytest.fixture
def files(tmp_path):
    """A cluster of four nodes that refuse for three different reasons, and inputs."""
    cluster = [
        node("a", "4", "8Gi", pods=10),
        node("b", "2", "8Gi", pods=10),
        node("tainted", "8", "8Gi", taints=TAINT),
        node("small", "1", "8Gi"),
        running_pod("old", "a", "500m", "1Gi"),
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "single", "namespace": "tools"},
        "spec": pod_spec("250m", "64Mi"),
    }
    return {
        "snapshot": _write(tmp_path / "cluster.json", listing(cluster)),
        "web": _write(tmp_path / "web.json", deployment("web", 5, pod_spec("1", "1Gi"))),
        "pod": _write(tmp_path / "pod.json", pod),
        # a List: two workloads in one file, placed in order
        "batch": _write(
            tmp_path / "batch.json",
            listing(
                [deployment("batch", 6, pod_spec("1500m")), deployment("tiny", 2, pod_spec("1"))]
            ),
        ),
        "shape": _write(tmp_path / "m5.json", node("m5", "4", "16Gi")),
        "pricey": _write(
            tmp_path / "big.json",
            node("big", "16", "64Gi", annotations={"podsift.io/price": "9"}),
        ),
        # the resource, taint and affinity policies (the placements below are worked
        # out for their scores; the default set's topology plugins would change the
        # rounding of the 0..10 score, not the contract)
        "config": _write(
            tmp_path / "config.json",
            {
                "apiVersion": "podsift/v1",
                "kind": "PolicyConfiguration",
                "filters": [
                    "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity",
                    "NodePorts", "NodeResourcesFit",
                ],
                "scores": [
                    {"name": "NodeResourcesFit", "weight": 1},
                    {"name": "NodeResourcesBalancedAllocation", "weight": 1},
                    {"name": "ImageLocality", "weight": 1},
                    {"name": "NodeAffinity", "weight": 2},
                    {"name": "TaintToleration", "weight": 3},
                ],
            },
        ),
    }


def _run(capsys, argv):
    assert main([*argv, "--output", "json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on stdout
    return orjson.loads(out)


def _ints(mapping):
    return isinstance(mapping, dict) and all(
        isinstance(k, str) and type(v) is int for k, v in mapping.items()
    )


def test_fit_json(files, capsys):
    f = files
    doc = _run(
        capsys,
        ["plan", "fit", "--snapshot", f["snapshot"], "--pod", f["web"], "--pod", f["pod"]]
        + ["--config", f["config"]],
    )
    assert isinstance(doc["templates"], list)
    assert [t["name"] for t in doc["templates"]] == ["web", "single"]  # metadata.name
    for t in doc["templates"]:
        assert type(t["fits"]) is int
        assert _ints(t["per_node"]) and _ints(t["limited_by"])
        assert all(v >= 1 for v in t["per_node"].values())  # only nodes with a copy
        assert sum(t["per_node"].values()) == t["fits"]
        assert all(v >= 1 for v in t["limited_by"].values())
        # every node is counted once, under the reason its next copy fails with
        assert sum(t["limited_by"].values()) == 4
        nodes = t["limited_by_nodes"]
        assert {r: len(ns) for r, ns in nodes.items()} == t["limited_by"]
    web = doc["templates"][0]
    # a: 3.5 cpu free, b: 2, small: 1 (1Gi each, memory to spare); tainted: none
    assert web["per_node"] == {"a": 3, "b": 2, "small": 1}
    assert web["fits"] == 6
    assert web["limited_by"] == {
        "Insufficient cpu": 3,
        "node(s) had untolerated taint {k: v}": 1,
    }


def test_place_json(files, capsys):
    f = files
    doc = _run(
        capsys,
        ["plan", "place", "--snapshot", f["snapshot"], "--workload", f["pod"]]
        + ["--workload", f["batch"], "--config", f["config"]],
    )
    _check_place(doc, {"a", "b", "tainted", "small"})
    pods = [p["pod"] for p in doc["placements"]]
    # in the order given; replica i of workload X is X-i in X's namespace
    expected = ["tools/single-0"] + [f"default/batch-{i}" for i in range(6)]
    assert pods == expected + ["default/tiny-0", "default/tiny-1"]
    # a takes two of 1500m, b one; small and the tainted node none
    # a (3.5 cpu free) takes the 250m pod and two of 1500m, b one, small one of 1 cpu
    assert [p["node"] for p in doc["placements"]] == [
        *["a", "a", "a", "b", None, None, None],
        *["small", None],
    ]
    assert doc["placed"] == 5 and doc["unplaced"] == 4
    # each unplaced pod once per reason (three nodes short of cpu, one tainted)
    assert doc["unplaced_reasons"] == {
        "Insufficient cpu": 4,
        "node(s) had untolerated taint {k: v}": 4,
    }
    assert doc["nodes"]["a"]["allocatable"] == {"cpu": 4000, "memory": 8 * 2**30, "pods": 10}
    assert doc["nodes"]["a"]["requested_before"]["cpu"] == 500  # millicores
    assert "added" not in doc


def test_grow_json(files, capsys):
    f = files
    doc = _run(
        capsys,
        ["plan", "grow", "--snapshot", f["snapshot"], "--workload", f["batch"]]
        + ["--node-shape", f["pricey"], "--node-shape", f["shape"]],
    )
    assert _ints(doc["added"]) and set(doc["added"]) == {"big", "m5"}
    assert doc["added"] == {"big": 0, "m5": 2}  # the cheapest shape that fits (price 1)
    _check_place(doc, {"a", "b", "tainted", "small", "m5-0", "m5-1"})
    assert doc["unplaced"] == 0 and doc["unplaced_reasons"] == {}


def _check_place(doc, node_names):
    assert type(doc["placed"]) is int and type(doc["unplaced"]) is int
    placements = doc["placements"]
    assert all(set(p) == {"pod", "node"} for p in placements)
    assert all(isinstance(p["pod"], str) and p["pod"].count("/") == 1 for p in placements)
    assert all(p["node"] is None or isinstance(p["node"], str) for p in placements)
    assert doc["unplaced"] == sum(p["node"] is None for p in placements)
    assert doc["placed"] == len(placements) - doc["unplaced"]
    reasons = doc["unplaced_reasons"]
    assert _ints(reasons)
    # pods counted once per reason: each unplaced pod has one, none counts twice
    assert all(1 <= n <= doc["unplaced"] for n in reasons.values())
    assert sum(reasons.values()) >= doc["unplaced"]
    nodes = doc["nodes"]
    assert isinstance(nodes, dict) and set(nodes) == node_names
    for entry in nodes.values():
        assert set(entry) == NODE_KEYS
        assert all(_ints(entry[k]) for k in NODE_KEYS)
        assert set(entry["allocatable"]) == set(entry["requested_before"])
        assert set(entry["allocatable"]) == set(entry["requested_after"])
    grew = {
        r: sum(n["requested_after"][r] - n["requested_before"][r] for n in nodes.values())
        for r in ("cpu", "pods")
    }
    assert grew["pods"] == doc["placed"]
    assert grew["cpu"] >= 0
    assert _ints(doc["stranded"])


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["plan", "fit", "--snapshot", "{snapshot}"], "--pod"),
        (["plan", "place", "--snapshot", "{snapshot}"], "--workload"),
        (["plan", "grow", "--snapshot", "{snapshot}", "--node-shape", "{shape}"], "--workload"),
        (["plan", "grow", "--snapshot", "{snapshot}", "--workload", "{web}"], "--node-shape"),
    ],
)
def test_missing_input_is_a_usage_error(files, capsys, argv, flag):
    with pytest.raises(SystemExit) as exc:
        main([a.format(**files) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required" in err and flag in err


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "fit", "{web}", "--snapshot", "{snapshot}"],  # no positional FILE
        ["plan", "place", "{web}", "--snapshot", "{snapshot}"],
        ["plan", "fit", "--workload", "{web}", "--snapshot", "{snapshot}"],  # fit takes --pod
        ["plan", "place", "--pod", "{web}", "--snapshot", "{snapshot}"],
    ],
)
def test_only_the_contract_flags_name_the_inputs(files, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main([a.format(**files) for a in argv])
    assert exc.value.code == 2


def test_the_default_output_is_a_table(files, capsys):
    f = files
    argv = ["plan", "place", "--snapshot", f["snapshot"], "--workload", f["pod"]]
    assert main([*argv, "--workload", f["batch"]]) == 0
    out = capsys.readouterr().out
    assert not out.startswith("{")
    assert "5 of 9 pods placed" in out
    assert "not placed: 4 pods" in out
    assert "  4 pods: 0/4 nodes are available: 3 Insufficient cpu" in out
    assert main(["plan", "fit", "--snapshot", f["snapshot"], "--pod", f["web"]]) == 0
    out = capsys.readouterr().out
    assert "default/web     6      3" in out
