"""A real gunicorn process replaying kube-scheduler's conversation, both node-cache modes."""

from __future__ import annotations

import orjson
import pytest

from bench.validate import validate
from bench.workload import generate
from tests.server import Server

NODES, PODS = 30, 300


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    doc = generate(NODES, PODS, seed=7)
    nodes = [i for i in doc["items"] if i["kind"] == "Node"]
    pods = [i for i in doc["items"] if i["kind"] == "Pod"]
    path = tmp_path_factory.mktemp("snap") / "cluster.json"
    path.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
    return nodes, pods, str(path)


@pytest.fixture(scope="module")
def spread_config(tmp_path_factory):
    """The default policies plus PodTopologySpread (issue 12), whose DoNotSchedule
    constraints the workload's pods carry and the validator checks."""
    from extender.engine.config import default_configuration

    default = default_configuration()
    filters = [e.name for e in default.filters]
    scores = [{"name": e.name, "weight": e.weight, "args": e.args} for e in default.scores]
    if "PodTopologySpread" not in filters:
        filters.append("PodTopologySpread")
        scores.append({"name": "PodTopologySpread", "weight": 2})
    doc = {"apiVersion": "podsift/v1", "kind": "PolicyConfiguration"}
    path = tmp_path_factory.mktemp("cfg") / "policies.json"
    path.write_bytes(orjson.dumps({**doc, "filters": filters, "scores": scores}))
    return str(path)


def _schedule(server: Server, nodes, pods, node_cache: bool) -> dict[str, str]:
    names = [n["metadata"]["name"] for n in nodes]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    placements: dict[str, str] = {}
    for p in pods:
        if node_cache:
            args = {"Pod": p, "Nodes": None, "NodeNames": names}
        else:
            args = {"Pod": p, "Nodes": {"items": nodes}, "NodeNames": None}
        status, res = server.post("/filter", args)
        assert status == 200 and res["Error"] == ""
        if node_cache:
            assert res["Nodes"] is None
            passed = res["NodeNames"]
        else:
            assert res["NodeNames"] is None
            passed = [n["metadata"]["name"] for n in res["Nodes"]["items"]]
            # the passing subset of the same objects, unchanged
            for obj in res["Nodes"]["items"]:
                assert obj == by_name[obj["metadata"]["name"]]
        assert set(passed) <= set(names)
        assert set(passed).isdisjoint(res["FailedNodes"]) and set(passed).isdisjoint(
            res["FailedAndUnresolvableNodes"]
        )
        assert len(passed) + len(res["FailedNodes"]) + len(
            res["FailedAndUnresolvableNodes"]
        ) == len(names)
        if not passed:
            continue
        if node_cache:
            args = {"Pod": p, "Nodes": None, "NodeNames": passed}
        else:
            args = {"Pod": p, "Nodes": {"items": [by_name[n] for n in passed]}, "NodeNames": None}
        status, prio = server.post("/prioritize", args)
        assert status == 200
        assert [e["Host"] for e in prio] == passed
        assert all(isinstance(e["Score"], int) and 0 <= e["Score"] <= 10 for e in prio)
        best = max(prio, key=lambda e: e["Score"])["Host"]
        meta = p["metadata"]
        status, res = server.post(
            "/bind",
            {
                "PodName": meta["name"],
                "PodNamespace": meta["namespace"],
                "PodUID": meta["uid"],
                "Node": best,
            },
        )
        assert status == 200 and res == {"Error": ""}
        placements[meta["uid"]] = best
    return placements


@pytest.mark.parametrize("node_cache", [True, False], ids=["NodeNames", "Nodes"])
def test_conversation_places_every_pod_validly(workload, spread_config, node_cache):
    nodes, pods, path = workload
    count = PODS if node_cache else PODS // 2
    server = Server("--snapshot", path, "--config", spread_config)
    try:
        placements = _schedule(server, nodes, pods[:count], node_cache)
    finally:
        server.stop()
    assert len(placements) == count, "every generated pod is placeable"
    items = nodes + pods[:count]
    assert validate(items, placements) == []


def test_health_ready_metrics_and_prefix(workload):
    nodes, pods, path = workload
    server = Server("--snapshot", path, "--path-prefix", "/scheduler")
    try:
        assert server.get("/healthz")[0] == 200
        assert server.get("/readyz")[0] == 200
        names = [n["metadata"]["name"] for n in nodes]
        status, res = server.post("/scheduler/filter", {"Pod": pods[0], "NodeNames": names})
        assert status == 200 and res["NodeNames"]
        status, body = server.post_raw(
            "/filter", orjson.dumps({"Pod": pods[0], "NodeNames": names})
        )
        assert status == 404
        status, body = server.get("/metrics")
        assert status == 200
        assert b'podsift_requests_total{outcome="ok",verb="filter"} 1.0' in body or (
            b"podsift_request" in body and b'verb="filter"' in body
        )
        assert b"podsift_cache_nodes 30.0" in body
        assert b"podsift_selector_cache_requests_total" in body
    finally:
        server.stop()
