"""The measures of a place plan, on a cluster small enough to count by hand."""

from __future__ import annotations

import orjson

from extender.cli import main
from tests.plan.objects import deployment, listing, node, pod_spec, running_pod

GI = 2**30


def test_stranded_lower_bound_and_unplaced(tmp_path, capsys):
    cluster = [
        node("a", "4", "8Gi", pods=10),
        node("tainted", "4", "8Gi", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        running_pod("old", "a", "500m", "0"),
    ]
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing(cluster)))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 3, pod_spec("1", "4Gi"))))
    argv = ["plan", "place", "--workload", str(tmp_path / "w.json")]
    argv += ["--snapshot", str(tmp_path / "c.json")]
    assert main([*argv, "--output", "json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [p["node"] for p in doc["placements"]] == ["a", "a", None]
    assert doc["unplaced"] == 1
    assert doc["unplaced_reasons"] == {
        "Insufficient memory": 1,
        "node(s) had untolerated taint {k: v}": 1,
    }
    (unplaced,) = doc["unplaced_groups"]
    assert unplaced["pods"] == ["default/w-2"]
    assert unplaced["message"] == (
        "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}."
    )
    a = doc["nodes"]["a"]
    assert a["requested_before"] == {"cpu": 500, "memory": 0, "pods": 1}
    assert a["requested_after"] == {"cpu": 2500, "memory": 8 * GI, "pods": 3}
    assert a["allocatable"] == {"cpu": 4000, "memory": 8 * GI, "pods": 10}
    # memory ran out on a: its free cpu and pod slots are stranded; the tainted
    # node never took the workload, so its free capacity is not
    assert doc["stranded"] == {"cpu": 1500, "memory": 0, "pods": 7}
    assert doc["lower_bound_by_resource"] == {"cpu": 1, "memory": 1, "pods": 1}
    assert (doc["lower_bound"], doc["nodes_used"], doc["efficiency"]) == (1, 1, 1.0)


def test_table_output_names_what_is_not_modeled(tmp_path, capsys):
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing([node("a")])))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 2, pod_spec("1"))))
    argv = ["plan", "place", "--workload", str(tmp_path / "w.json")]
    argv += ["--snapshot", str(tmp_path / "c.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 of 2 pods placed" in out
    assert "not modeled:" in out and "dynamic resource allocation" in out


def test_plots_are_written(tmp_path, capsys):
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing([node("a")])))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 2, pod_spec("1"))))
    (tmp_path / "s.json").write_bytes(orjson.dumps(node("s")))
    argv = ["plan", "grow", "--workload", str(tmp_path / "w.json")]
    argv += ["--snapshot", str(tmp_path / "c.json")]
    argv += ["--node-shape", str(tmp_path / "s.json"), "--plots", str(tmp_path / "plots")]
    assert main(argv) == 0
    for name in ("utilization.png", "stranded.png", "added.png"):
        assert (tmp_path / "plots" / name).read_bytes().startswith(b"\x89PNG")


def test_written_snapshot_holds_the_placed_copies(tmp_path, capsys):
    nodes = [node(f"n{i}", "4", "16Gi") for i in range(5)]
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing(nodes)))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 7, pod_spec("1", "1Gi"))))
    (tmp_path / "s.json").write_bytes(orjson.dumps(node("s", "2", "4Gi")))
    w, c, after = tmp_path / "w.json", tmp_path / "c.json", tmp_path / "after.json"

    def fits(snapshot):
        argv = ["plan", "fit", "--pod", str(w), "--snapshot", str(snapshot)]
        assert main([*argv, "--output", "json"]) == 0
        return orjson.loads(capsys.readouterr().out)["templates"][0]["fits"]

    assert fits(c) == 20
    argv = ["plan", "place", "--workload", str(w), "--snapshot", str(c)]
    argv += ["--write-snapshot", str(after)]
    assert main([*argv, "--output", "json"]) == 0
    placed = orjson.loads(capsys.readouterr().out)["placements"]
    assert fits(after) == 20 - 7
    items = orjson.loads(after.read_bytes())["items"]
    bound = {i["metadata"]["name"]: i["spec"]["nodeName"] for i in items if i["kind"] == "Pod"}
    assert bound == {p["pod"].split("/")[1]: p["node"] for p in placed}


def test_place_without_node_resources_fit_is_refused_where_bind_refuses(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(
        "apiVersion: podsift/v1\nkind: PolicyConfiguration\nfilters: [NodeAffinity]\nscores: []\n"
    )
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing([node("a", "1")])))
    (tmp_path / "w.json").write_bytes(orjson.dumps(deployment("w", 3, pod_spec("1"))))
    argv = ["plan", "place", "--workload", str(tmp_path / "w.json")]
    argv += ["--snapshot", str(tmp_path / "c.json")]
    argv += ["--config", str(tmp_path / "config.yaml"), "--output", "json"]
    assert main(argv) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [p["node"] for p in doc["placements"]] == ["a", None, None]
    assert [(u["message"], u["pods"]) for u in doc["unplaced_groups"]] == [
        ("/bind refuses: Insufficient cpu", ["default/w-1", "default/w-2"])
    ]
    assert doc["unplaced_reasons"] == {"/bind refuses: Insufficient cpu": 2}
    assert any("NodeResourcesFit" in u for u in doc["not_modeled"])


def test_claims_the_plan_does_not_check_are_named(tmp_path, capsys):
    spec = pod_spec("100m")
    spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    gpu = pod_spec("100m")
    gpu["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "gpu"}]
    workload = listing([deployment("db", 1, spec), deployment("train", 1, gpu)])
    (tmp_path / "c.json").write_bytes(orjson.dumps(listing([node("a")])))
    (tmp_path / "w.json").write_bytes(orjson.dumps(workload))
    argv = ["plan", "fit", "--pod", str(tmp_path / "w.json")]
    argv += ["--snapshot", str(tmp_path / "c.json")]
    assert main([*argv, "--output", "json"]) == 0
    notes = orjson.loads(capsys.readouterr().out)["not_modeled"]
    assert "PersistentVolumeClaims of default/db (placed as if bound anywhere)" in notes
    assert "ResourceClaims of default/train (placed as if allocated anywhere)" in notes
