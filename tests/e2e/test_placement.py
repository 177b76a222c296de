"""kube-scheduler v1.34 with the shipped configuration calls podsift for every
pod of its profile: filter, prioritize, bind. The workload is the benchmark's
own mix (requests, affinity, taints and tolerations, init containers, runtime
class overhead), at 50 nodes and 300 pods."""

from __future__ import annotations

import copy

import pytest

from bench.controlplane import api_objects, placements_in_bind_order, wait_for
from bench.validate import validate
from bench.workload import generate
from tests.e2e.kube import (
    apply_manifests,
    create_nodes,
    create_pods,
    podsift,
    shipped_scheduler_config,
)

NODES, PODS = 50, 300


@pytest.fixture(scope="module")
def scheduled(cp):
    setup, nodes, pods = api_objects(generate(NODES, PODS, seed=11)["items"], "podsift")
    api = cp.api
    api.create_setup(setup)
    assert apply_manifests(api) >= 8
    create_nodes(api, nodes)
    # both as the sidecar's service account: the shipped RBAC must be enough
    server = podsift(cp, kubeconfig=cp.scheduler_kubeconfig)
    scheduler = cp.scheduler(
        shipped_scheduler_config(server.port), kubeconfig=cp.scheduler_kubeconfig
    )
    try:
        create_pods(api, pods)

        def settled():
            found = api.pods()
            done = [p for p in found if p["spec"].get("nodeName")]
            return len(found) == PODS and len(done) == PODS and found

        found = wait_for(settled, 180, f"all {PODS} pods scheduled")
        metrics = server.metrics()
        yield {
            "pods": found,
            "nodes": api.items("/api/v1/nodes"),
            "metrics": metrics,
            "bindings": cp.bindings(),
            "scheduler_log": scheduler.log_path.read_text(errors="replace"),
        }
    finally:
        scheduler.stop()
        server.stop()


def count(metrics, verb, outcome="ok"):
    return metrics.get(
        ("podsift_requests_total", frozenset({"verb": verb, "outcome": outcome}.items())), 0
    )


def test_every_pod_is_bound_by_podsift(scheduled):
    metrics = scheduled["metrics"]
    # the Binding of every pod is podsift's: kube-scheduler's own binder never ran
    assert count(metrics, "bind") == PODS
    assert count(metrics, "bind", "error") == 0
    assert count(metrics, "filter") >= PODS
    # several nodes fit most pods, so kube-scheduler asked podsift to score them
    assert count(metrics, "prioritize") >= PODS * 0.9


def test_the_placements_are_valid_for_the_node_objects(scheduled):
    # kube-scheduler binds in goroutines, so the Bindings' commit order is close to,
    # not exactly, its decision order: spread constraints are checked on the end state
    pods, placed = placements_in_bind_order(copy.deepcopy(scheduled["pods"]))
    assert len(placed) == PODS
    nodes = [{**n, "kind": "Node"} for n in scheduled["nodes"]]
    assert validate([*nodes, *pods], placed, order_known=False) == []


def test_every_binding_was_created_by_podsift(scheduled):
    """The API server's audit log: one pods/binding per pod, each from podsift's
    client (user agent "podsift"), under the sidecar's service account."""
    bindings = scheduled["bindings"]
    pods = {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in scheduled["pods"]}
    assert sorted(b["pod"] for b in bindings) == sorted(pods)
    assert {b["user_agent"] for b in bindings} == {"podsift"}
    assert {b["code"] for b in bindings} == {201}
    assert {b["user"] for b in bindings} == {
        "system:serviceaccount:podsift-system:podsift-scheduler"
    }


def test_kube_scheduler_ran_the_shipped_profile_without_errors(scheduled):
    log = scheduled["scheduler_log"]
    assert "Successfully bound pod to node" in log
    for problem in ("forbidden", "Forbidden", "error calling extender", "Failed to bind"):
        assert problem not in log
