"""What podsift refuses, kube-scheduler must not do: a pod podsift rejects stays
Pending with podsift's reason in its FailedScheduling event, and preemption
through `preemptVerb` evicts only victims podsift approved.

podsift runs the shipped policies plus the example plugin's RequireLabel
(examples/podsift-example-plugin), a filter kube-scheduler has no in-tree
twin of: whatever it rejects, only podsift can have rejected."""

from __future__ import annotations

import pytest
import yaml

from bench.controlplane import ControlPlaneError, wait_for
from tests.e2e.kube import (
    SHIPPED_POLICY,
    create_nodes,
    node,
    pod,
    podsift,
    scheduling_failures,
    shipped_scheduler_config,
    why_pending,
)
from tests.exampleplugin import child_env, example_plugin_paths

ALLOWED = "e2e.podsift.io/allowed"
REASON = f"node(s) didn't have label {ALLOWED}"


@pytest.fixture(scope="module")
def extender(cp, kubelet, tmp_path_factory):
    """podsift with RequireLabel, kube-scheduler with the shipped configuration
    (which sets preemptVerb)."""
    policy = yaml.safe_load(SHIPPED_POLICY.read_text())
    policy["filters"].append({"name": "RequireLabel", "args": {"key": ALLOWED}})
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    env = child_env(example_plugin_paths(tmp_path_factory.mktemp("site")))
    server = podsift(cp, policy=path, env=env)
    scheduler = cp.scheduler(shipped_scheduler_config(server.port))
    try:
        yield server
    finally:
        scheduler.stop()
        server.stop()


def _podsift_passes(server, node_name: str) -> bool:
    """Whether podsift's /filter lets a plain pod onto this node now."""
    probe = pod("probe", namespace="reject")
    probe["metadata"]["uid"] = "probe-uid"
    status, answer = server.post("/filter", {"Pod": probe, "NodeNames": [node_name]})
    return status == 200 and answer.get("NodeNames") == [node_name]


def test_a_pod_podsift_rejects_stays_pending_with_podsifts_reason(cp, extender):
    api = cp.api
    api.create_namespace("reject")
    create_nodes(api, [node(f"reject-{i}", labels={"e2e": "reject"}) for i in range(3)])
    api.create("/api/v1/namespaces/reject/pods", pod("lonely", namespace="reject"))

    messages = wait_for(
        lambda: scheduling_failures(api, "reject", "lonely"), 60, "a FailedScheduling event"
    )
    assert any(REASON in m for m in messages), messages
    assert api.pod("reject", "lonely")["spec"].get("nodeName") is None
    before = extender.metric("podsift_requests_total", verb="filter", outcome="ok")
    assert before >= 1

    # Once a node carries the label, podsift lets the pod through, and nowhere else.
    # The label change reaches kube-scheduler and podsift by separate watches: if
    # kube-scheduler retries the pod before podsift has seen it, podsift refuses once
    # more and the pod waits for the next cluster event (at most 5 minutes: README,
    # "Against a live cluster"). So the test waits until podsift has the label, then
    # makes one more change to the node, as any later event in a real cluster would.
    api.merge_patch("/api/v1/nodes/reject-1", {"metadata": {"labels": {ALLOWED: "yes"}}})
    wait_for(lambda: _podsift_passes(extender, "reject-1"), 60, "podsift to see the label")
    api.merge_patch("/api/v1/nodes/reject-1", {"metadata": {"annotations": {"e2e/poke": "1"}}})
    try:
        bound = wait_for(
            lambda: api.pod("reject", "lonely")["spec"].get("nodeName"), 120, "lonely bound"
        )
    except ControlPlaneError as exc:
        raise AssertionError(f"{exc}\n{why_pending(cp, 'reject', 'lonely', extender)}") from None
    assert bound == "reject-1"


def test_preemption_evicts_only_victims_podsift_approved(cp, kubelet, extender):
    """Two full nodes. Without podsift, kube-scheduler's DefaultPreemption would
    pick `denied` (its victim has the lower priority); podsift's /preempt drops
    that node because RequireLabel fails there even with the victims gone, so
    the victim on `allowed` is evicted and the pod lands there. (Without
    preemptVerb in the configuration, `victim-denied` is evicted and the pod
    still cannot go there: why the shipped configuration sets it.)"""
    api = cp.api
    api.create_namespace("preempt")
    for name, value in (("e2e-low", 10), ("e2e-mid", 20), ("e2e-high", 1000)):
        api.call(
            "POST",
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": value,
            },
            ok=(201, 409),
        )
    create_nodes(
        api,
        [
            node("preempt-allowed", cpu="2", labels={ALLOWED: "yes", "e2e": "preempt"}),
            node("preempt-denied", cpu="2", labels={"e2e": "preempt"}),
        ],
    )
    # the victims are bound by their creator (spec.nodeName), as if placed long ago
    victims = {
        "victim-allowed": ("preempt-allowed", "e2e-mid"),
        "victim-denied": ("preempt-denied", "e2e-low"),
    }
    for name, (node_name, priority) in victims.items():
        api.create(
            "/api/v1/namespaces/preempt/pods",
            pod(name, cpu="2", namespace="preempt", priority_class=priority, nodeName=node_name),
        )
    preempts_before = extender.metric("podsift_requests_total", verb="preempt", outcome="ok")

    api.create(
        "/api/v1/namespaces/preempt/pods",
        pod(
            "urgent",
            cpu="1500m",
            namespace="preempt",
            priority_class="e2e-high",
            nodeSelector={"e2e": "preempt"},
        ),
    )
    bound = wait_for(
        lambda: api.pod("preempt", "urgent")["spec"].get("nodeName"), 120, "urgent bound"
    )

    assert bound == "preempt-allowed"
    assert api.pod("preempt", "victim-allowed") is None
    survivor = api.pod("preempt", "victim-denied")
    assert survivor is not None and survivor["metadata"].get("deletionTimestamp") is None
    assert extender.metric("podsift_requests_total", verb="preempt", outcome="ok") > (
        preempts_before
    )
    assert "preempt/victim-allowed" in kubelet.finished
    assert "preempt/victim-denied" not in kubelet.finished
