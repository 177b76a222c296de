"""The extender settings a user may change in the shipped configuration:
`nodeCacheCapable: false` (kube-scheduler sends whole Node objects) and
`managedResources` (only pods that request one of them go through podsift)."""

from __future__ import annotations

import copy

from bench.controlplane import wait_for
from bench.validate import validate
from tests.e2e.kube import (
    create_nodes,
    create_pods,
    node,
    placements,
    pod,
    podsift,
    shipped_scheduler_config,
)
from tests.e2e.proxy import RoundRobinProxy

GPU = "example.com/gpu"


def _valid(api, namespace: str) -> None:
    nodes = [{**n, "kind": "Node"} for n in api.items("/api/v1/nodes")]
    pods, placed = [], {}
    for p in api.pods(namespace):
        placed[p["metadata"]["uid"]] = p["spec"]["nodeName"]
        p = {**copy.deepcopy(p), "kind": "Pod"}
        p["spec"].pop("nodeName")
        pods.append(p)
    assert validate([*nodes, *pods], placed) == []


def test_without_node_cache_kube_scheduler_sends_nodes_and_podsift_places(cp):
    api = cp.api
    api.create_namespace("fullnodes")
    labels = {"e2e": "fullnodes"}
    create_nodes(api, [node(f"full-{i}", cpu="2", labels=labels) for i in range(6)])
    server = podsift(cp)
    try:
        with RoundRobinProxy([server.port]) as proxy:
            scheduler = cp.scheduler(
                shipped_scheduler_config(proxy.port, nodeCacheCapable=False), name="fullnodes"
            )
            try:
                pods = [
                    pod(f"p{i}", cpu="500m", namespace="fullnodes", nodeSelector=labels)
                    for i in range(24)
                ]
                create_pods(api, pods)
                wait_for(lambda: len(placements(api, "fullnodes")) == 24, 120, "24 pods bound")
            finally:
                scheduler.stop()
        binds = server.metric("podsift_requests_total", verb="bind", outcome="ok")
    finally:
        server.stop()
    filters = [r for r in proxy.seen if r["path"] == "/filter"]
    assert len(filters) >= 24
    # whole Node objects on the wire, never the names alone
    assert all("Nodes" in r["keys"] and "NodeNames" not in r["keys"] for r in filters)
    assert {r["status"] for r in proxy.seen} == {200}
    assert binds == 24
    _valid(api, "fullnodes")
    assert len(set(placements(api, "fullnodes").values())) == 6


def test_managed_resources_send_only_those_pods_to_podsift(cp):
    api = cp.api
    api.create_namespace("managed")
    labels = {"e2e": "managed"}
    create_nodes(
        api,
        [node(f"gpu-{i}", labels=labels, extended={GPU: "4"}) for i in range(2)]
        + [node(f"plain-{i}", labels=labels) for i in range(2)],
    )
    server = podsift(cp)
    managed = [{"name": GPU, "ignoredByScheduler": False}]
    scheduler = cp.scheduler(
        shipped_scheduler_config(server.port, managedResources=managed), name="managed"
    )
    try:
        gpu_pods = [
            pod(f"gpu-{i}", namespace="managed", extended={GPU: "1"}, nodeSelector=labels)
            for i in range(6)
        ]
        plain_pods = [pod(f"plain-{i}", namespace="managed", nodeSelector=labels) for i in range(6)]
        create_pods(api, gpu_pods + plain_pods)
        placed = wait_for(
            lambda: (found := placements(api, "managed")) and len(found) == 12 and found,
            120,
            "12 pods bound",
        )
        filters = server.metric("podsift_requests_total", verb="filter", outcome="ok")
        binds = server.metric("podsift_requests_total", verb="bind", outcome="ok")
    finally:
        scheduler.stop()
        server.stop()
    assert binds == 6 and 6 <= filters < 12
    by_agent = {b["pod"]: b["user_agent"] for b in cp.bindings() if b["pod"].startswith("managed/")}
    assert {by_agent[f"managed/gpu-{i}"] for i in range(6)} == {"podsift"}
    assert all(by_agent[f"managed/plain-{i}"].startswith("kube-scheduler/") for i in range(6))
    assert all(placed[f"managed/gpu-{i}"].startswith("gpu-") for i in range(6))
    _valid(api, "managed")
