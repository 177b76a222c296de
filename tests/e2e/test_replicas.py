"""Two podsift replicas behind a round-robin Service are interchangeable
(issue 10): any replica can bind any pending pod, because each watches every
pending pod, and the UID precondition on the Binding keeps it safe. The proxy
alternates per request, not per connection, the worst a Service can do: a
pod's /filter, /prioritize and /bind land on different replicas."""

from __future__ import annotations

from collections import Counter

from bench.controlplane import wait_for
from tests.e2e.kube import (
    create_nodes,
    create_pods,
    node,
    placements,
    pod,
    podsift,
    scheduling_failures,
    shipped_scheduler_config,
)
from tests.e2e.proxy import RoundRobinProxy

NODES, SLOTS = 8, 4  # cpu 1 a node, 250m a pod: exactly full at 32 pods


def test_two_replicas_behind_round_robin_place_every_pod_once(cp):
    api = cp.api
    api.create_namespace("replicas")
    labels = {"e2e": "replicas"}
    create_nodes(api, [node(f"replica-{i}", cpu="1", labels=labels) for i in range(NODES)])
    replicas = [podsift(cp), podsift(cp)]
    try:
        with RoundRobinProxy([r.port for r in replicas]) as proxy:
            scheduler = cp.scheduler(shipped_scheduler_config(proxy.port), name="replicas")
            try:
                create_pods(
                    api,
                    [
                        pod(f"p{i:02d}", cpu="250m", namespace="replicas", nodeSelector=labels)
                        for i in range(NODES * SLOTS)
                    ],
                )
                placed = wait_for(
                    lambda: (found := placements(api, "replicas"))
                    and len(found) == NODES * SLOTS
                    and found,
                    120,
                    "every pod bound",
                )
                api.create(
                    "/api/v1/namespaces/replicas/pods",
                    pod("extra", cpu="250m", namespace="replicas", nodeSelector=labels),
                )
                wait_for(lambda: scheduling_failures(api, "replicas", "extra"), 60, "extra refused")
            finally:
                scheduler.stop()
        binds = [r.metric("podsift_requests_total", verb="bind", outcome="ok") for r in replicas]
        refused = [
            r.metric("podsift_requests_total", verb="bind", outcome="rejected") for r in replicas
        ]
    finally:
        for r in replicas:
            r.stop()

    assert Counter(placed.values()) == {f"replica-{i}": SLOTS for i in range(NODES)}
    assert api.pod("replicas", "extra")["spec"].get("nodeName") is None
    # both replicas bound pods, none refused one, and each pod has one Binding
    assert min(binds) > 0 and sum(binds) == NODES * SLOTS and sum(refused) == 0
    bindings = [b for b in cp.bindings() if b["pod"].startswith("replicas/")]
    assert len(bindings) == NODES * SLOTS and {b["code"] for b in bindings} == {201}
    # a pod's verbs did go to different replicas
    assert {r["backend"] for r in proxy.seen if r["path"] == "/bind"} == {0, 1}
    assert {r["status"] for r in proxy.seen} == {200}
