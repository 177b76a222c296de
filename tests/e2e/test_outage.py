"""podsift stopped in the middle of a run. The shipped configuration says
`ignorable: false`: while podsift is away kube-scheduler places nothing of its
profile, and once podsift is back and synced every pod is placed, none twice
and no node over its capacity."""

from __future__ import annotations

import time

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

NODES, SLOTS = 10, 4  # each node takes exactly four of the pods below


def test_pods_wait_for_podsift_and_nothing_is_double_booked(cp):
    api = cp.api
    api.create_namespace("outage")
    create_nodes(api, [node(f"outage-{i}", cpu="1", memory="4Gi") for i in range(NODES)])
    server = podsift(cp)
    port = server.port
    scheduler = cp.scheduler(shipped_scheduler_config(port))
    try:
        pods = [pod(f"p{i:03d}", cpu="250m", namespace="outage") for i in range(NODES * SLOTS)]
        create_pods(api, pods[:15])
        wait_for(lambda: len(placements(api, "outage")) == 15, 60, "the first 15 pods bound")

        server.stop()  # SIGTERM: podsift is gone, its port refuses connections
        create_pods(api, pods[15:])
        waiting = pods[20]["metadata"]["name"]
        refused = f'Post "http://127.0.0.1:{port}/filter": dial tcp 127.0.0.1:{port}: connect'
        wait_for(
            lambda: any(refused in m for m in scheduling_failures(api, "outage", waiting)),
            60,
            "a FailedScheduling event: podsift's /filter refused the connection",
        )
        time.sleep(2)
        assert len(placements(api, "outage")) == 15  # nothing placed without podsift

        server = podsift(cp, port=port)  # back on the same address, synced
        placed = wait_for(
            lambda: (found := placements(api, "outage")) and len(found) == NODES * SLOTS and found,
            180,
            "every pod bound after podsift came back",
        )
        per_node: dict[str, int] = {}
        for node_name in placed.values():
            per_node[node_name] = per_node.get(node_name, 0) + 1
        assert per_node == {f"outage-{i}": SLOTS for i in range(NODES)}
        bindings = [b for b in cp.bindings() if b["pod"].startswith("outage/")]
        assert len(bindings) == NODES * SLOTS  # one Binding a pod: none bound twice
        assert {b["code"] for b in bindings} == {201}

        # full: one more pod is refused (by podsift or in-tree), not squeezed in
        api.create("/api/v1/namespaces/outage/pods", pod("extra", cpu="250m", namespace="outage"))
        wait_for(lambda: scheduling_failures(api, "outage", "extra"), 60, "extra refused")
        assert api.pod("outage", "extra")["spec"].get("nodeName") is None
    finally:
        scheduler.stop()
        server.stop()
