"""A `place` plan replayed through the HTTP verbs of a real `podsift serve
--snapshot` (gunicorn on 127.0.0.1) places every pod on the same node."""

from __future__ import annotations

import random

import orjson
import pytest

from bench.placer import greedy_place
from bench.workload import generate
from extender.cli import main
from extender.plan.workload import load_templates
from tests.plan.objects import deployment, listing, pod_spec
from tests.server import Server


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """60 synthetic nodes (five pools: taints, labels, a cordon) with 300 pods placed."""
    doc = generate(60, 300, seed=3)
    placed = greedy_place(doc["items"], "spread")
    for item in doc["items"]:
        if item["kind"] == "Pod":
            item["spec"]["nodeName"] = placed[item["metadata"]["uid"]]
            item["status"]["phase"] = "Running"
    path = tmp_path_factory.mktemp("replay") / "snapshot.json"
    path.write_bytes(orjson.dumps(doc))
    return path, [i["metadata"]["name"] for i in doc["items"] if i["kind"] == "Node"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    items = [
        deployment("web", 120, pod_spec("700m", "2Gi")),
        deployment("ports", 70, pod_spec("100m", "100Mi", host_port=8080)),
        deployment("pinned", 40, pod_spec("1", "1Gi", node_selector={"example.com/pool": "spot"})),
        deployment("huge", 3, pod_spec("500", "1Gi")),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "lone", "namespace": "other"},
            "spec": pod_spec("250m"),
        },
        deployment("small", 150, pod_spec("100m", "128Mi")),
    ]
    path = tmp_path_factory.mktemp("replay") / "workload.json"
    path.write_bytes(orjson.dumps(listing(items)))
    return path


def _plan(snapshot_path, workload_path, capsys, *extra):
    argv = ["plan", "place", "--workload", str(workload_path), "--snapshot", str(snapshot_path)]
    assert main([*argv, "--output", "json", *extra]) == 0
    return orjson.loads(capsys.readouterr().out)


def _replay(server, names, workload_path, seed):
    """Filter, prioritize, pick (ties: first, or seeded as the plan draws), bind."""
    rng = random.Random(seed) if seed is not None else None
    out = []
    for t in load_templates([str(workload_path)]):
        for i in range(t.replicas):
            pod = t.copy_object(i)
            status, filtered = server.post("/filter", {"Pod": pod, "NodeNames": names})
            assert status == 200 and not filtered["Error"], filtered
            passed = filtered["NodeNames"]
            node = None
            if len(passed) == 1:
                node = passed[0]
            elif passed:
                status, scores = server.post("/prioritize", {"Pod": pod, "NodeNames": passed})
                assert status == 200
                score = {s["Host"]: s["Score"] for s in scores}
                top = max(score.values())
                best = [n for n in passed if score[n] == top]
                node = best[0] if rng is None or len(best) == 1 else best[rng.randrange(len(best))]
            if node is not None:
                meta = pod["metadata"]
                status, bound = server.post(
                    "/bind",
                    {
                        "PodName": meta["name"],
                        "PodNamespace": meta["namespace"],
                        "PodUID": meta["uid"],
                        "Node": node,
                    },
                )
                assert status == 200 and not bound["Error"], bound
            out.append({"pod": f"{t.namespace}/{t.copy_name(i)}", "node": node})
    return out


@pytest.mark.parametrize("seed", [None, 7])
def test_place_replayed_over_http_gives_the_same_placements(snapshot, workload, capsys, seed):
    snapshot_path, names = snapshot
    extra = [] if seed is None else ["--seed", str(seed)]
    plan = _plan(snapshot_path, workload, capsys, *extra)
    assert plan["pods"] == 384 and 0 < plan["placed"] < 384  # some do not fit
    assert plan["unplaced"] == 384 - plan["placed"]
    assert {u["message"] for u in plan["unplaced_groups"]} and all(
        u["message"].startswith("0/60 nodes are available: ") for u in plan["unplaced_groups"]
    )
    server = Server("--snapshot", str(snapshot_path))
    try:
        replayed = _replay(server, names, workload, seed)
    finally:
        server.stop()
    assert replayed == plan["placements"]


def test_seed_draws_among_ties_and_repeats(snapshot, workload, capsys):
    snapshot_path, _ = snapshot
    first = _plan(snapshot_path, workload, capsys)["placements"]
    seeded = _plan(snapshot_path, workload, capsys, "--seed", "7")["placements"]
    again = _plan(snapshot_path, workload, capsys, "--seed", "7")["placements"]
    assert seeded == again
    assert seeded != first
