"""Faults with the real control plane. podsift reaches kube-apiserver through a
proxy the test controls (tests/e2e/apiproxy.py); kube-scheduler reaches both
directly. After each fault, podsift's view must equal the API server's (its
cache gauges, and a /filter probe per free-capacity level that must pass
exactly the nodes with that much CPU free), every pod must be bound exactly
once, and no node may hold more than fits.

The faults, in order (each starts from the state the previous one left):
kube-apiserver restarted; etcd compacted under podsift's watch while it was
cut off (the watch resumes from a compacted resourceVersion: 410, relist);
podsift killed with -9 between a bind's assumption and its Binding; the
connection to the API server cut and restored while pods are created and
deleted.
"""

from __future__ import annotations

import base64
import http.client
import os
import signal
import uuid
from collections import Counter
from typing import Any

import orjson
import pytest

from bench import servers
from bench.controlplane import wait_for
from bench.validate import pod_requests
from tests.e2e.apiproxy import ApiFaultProxy
from tests.e2e.kube import (
    create_nodes,
    create_pods,
    node,
    placements,
    pod,
    podsift,
    scheduling_failures,
    shipped_scheduler_config,
    why_pending,
)

NODES, SLOTS = 6, 4  # cpu 1 a node, 250m a pod
NAMESPACE = "faults"


class Rig:
    """The control plane, the proxy, podsift behind it and kube-scheduler."""

    def __init__(self, cp, tmp_path) -> None:
        self.cp = cp
        self.api = cp.api
        self.proxy = ApiFaultProxy(cp.port, cp.pki).start()
        self.kubeconfig = cp.write_kubeconfig(tmp_path / "via-proxy", server=self.proxy.server)
        self.server = podsift(cp, kubeconfig=self.kubeconfig)
        self.port = self.server.port
        config = shipped_scheduler_config(self.port)
        # Leader election off: a restarted API server takes longer than the lease's
        # renew deadline, and kube-scheduler then exits for its kubelet to restart it.
        # Its lease is not what these tests are about.
        config["leaderElection"] = {"leaderElect": False}
        self.scheduler = cp.scheduler(config, name="faults")
        self.serial = 0

    def new_pods(self, count: int, scheduler: str = "podsift") -> list[str]:
        names = []
        for _ in range(count):
            self.serial += 1
            names.append(f"p{self.serial:03d}")
        create_pods(
            self.api, [pod(n, cpu="250m", namespace=NAMESPACE, scheduler=scheduler) for n in names]
        )
        return names

    def delete(self, names: list[str]) -> None:
        for name in names:
            self.api.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}", grace=0)

    def restart_podsift(self) -> None:
        self.server = podsift(self.cp, kubeconfig=self.kubeconfig, port=self.port)

    def kill_podsift(self) -> None:
        """SIGKILL to the master and its worker at once, as a container kill would."""
        pid = self.server.proc.pid
        for target in [*servers.child_pids(pid), pid]:
            os.kill(target, signal.SIGKILL)
        self.server.proc.wait()
        self.server.log.close()

    def metric(self, name: str, **labels: str) -> float:
        return self.server.metric(name, **labels)

    def close(self) -> None:
        self.scheduler.stop()
        if self.server.proc.poll() is None:
            self.server.stop()
        self.proxy.close()


@pytest.fixture(scope="module")
def rig(cp, tmp_path_factory):
    cp.api.create_namespace(NAMESPACE)
    create_nodes(
        cp.api,
        [node(f"fault-{i}", cpu="1", memory="4Gi", labels={"e2e": "faults"}) for i in range(NODES)],
    )
    made = Rig(cp, tmp_path_factory.mktemp("faults"))
    try:
        yield made
    finally:
        made.close()


# ---- podsift's view against the API server's ------------------------------------
def _probe(port: int, node_names: list[str], millicpu: int) -> set[str] | str:
    """The nodes a pod of `millicpu` passes, or podsift's Error."""
    probe = {
        "metadata": {"name": "probe", "namespace": NAMESPACE, "uid": str(uuid.uuid4())},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": f"{millicpu}m"}}}]},
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/filter",
            orjson.dumps({"Pod": probe, "NodeNames": node_names}),
            {"Content-Type": "application/json"},
        )
        answer = orjson.loads(conn.getresponse().read())
    finally:
        conn.close()
    if answer.get("Error"):
        return answer["Error"]
    return set(answer.get("NodeNames") or [])


def mismatches(rig: Rig) -> list[str]:
    """Where podsift's view differs from the API server's (empty: none)."""
    api = rig.api
    nodes = api.items("/api/v1/nodes")
    terminal = ("Succeeded", "Failed")
    live = [p for p in api.pods() if (p.get("status") or {}).get("phase") not in terminal]
    bound = [p for p in live if p["spec"].get("nodeName")]
    problems = []
    for gauge, truth in (
        ("podsift_cache_nodes", len(nodes)),
        ("podsift_cache_pods", len(bound)),
        ("podsift_cache_pending_pods", len(live) - len(bound)),
    ):
        seen = rig.metric(gauge)
        if seen != truth:
            problems.append(f"{gauge} {seen:g}, API server {truth}")
    ours = [n["metadata"]["name"] for n in nodes if n["metadata"]["name"].startswith("fault-")]
    free = {name: 1000 for name in ours}
    for p in bound:
        if p["spec"]["nodeName"] in free:
            free[p["spec"]["nodeName"]] -= pod_requests(p).get("cpu", 0)
    for level in sorted({f for f in free.values() if f > 0}):
        expected = {name for name, f in free.items() if f >= level}
        passed = _probe(rig.port, ours, level)
        if isinstance(passed, str):
            return [*problems, f"/filter: {passed}"]
        if passed != expected:
            problems.append(
                f"a {level}m probe passes {sorted(passed)}, should pass {sorted(expected)}"
            )
    return problems


def diagnosis(rig: Rig) -> str:
    """What a failed wait shows: the pending pods, podsift's readiness, and for the
    first of them its events and both logs (tests/e2e/kube.py's why_pending)."""
    pods = rig.api.pods(NAMESPACE)
    pending = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
    lines = [f"pending: {pending}"]
    try:
        lines.append(f"podsift /readyz: {rig.server.get('/readyz')}")
    except OSError as exc:
        lines.append(f"podsift /readyz: {exc}")
    if pending:
        lines.append(why_pending(rig.cp, NAMESPACE, pending[0], rig.server))
    return "\n".join(lines)


def settle(rig: Rig, expected_bound: int) -> dict[str, str]:
    """Every live pod of the namespace bound, podsift's view equal to the truth,
    no node over capacity, no pod bound twice; the placements."""
    try:
        placed = wait_for(
            lambda: (found := placements(rig.api, NAMESPACE)) and len(found) == expected_bound
            and found,
            120,
            f"{expected_bound} pods bound",
        )
    except Exception as exc:
        raise AssertionError(f"{exc}\n{diagnosis(rig)}") from None
    wait_for(lambda: not mismatches(rig), 60, f"podsift's view to match: {mismatches(rig)}")
    per_node = Counter(placed.values())
    assert max(per_node.values()) <= SLOTS, per_node
    created = Counter(
        b["pod"]
        for b in rig.cp.bindings()
        if b["pod"].startswith(NAMESPACE + "/") and b["code"] == 201
    )
    assert max(created.values()) == 1, created.most_common(3)
    return placed


# ---- the faults -------------------------------------------------------------------
def test_kube_apiserver_restarted(rig):
    rig.new_pods(8)
    settle(rig, 8)
    rig.cp.restart_apiserver(down_for=1.0)
    old = sorted(placements(rig.api, NAMESPACE))[:3]
    rig.delete([name.split("/")[1] for name in old])
    rig.new_pods(6)
    settle(rig, 11)


def test_etcd_compacted_under_the_watch_while_podsift_was_cut_off(rig):
    relists = rig.metric("podsift_watch_relists_total")
    rig.proxy.cut()
    # changes podsift cannot see: pods of another scheduler arrive, two bound pods go
    rig.new_pods(3, scheduler="nobody")
    rig.delete([name.split("/")[1] for name in sorted(placements(rig.api, NAMESPACE))[:2]])
    _compact_etcd(rig.cp.etcd_port)
    rig.cp.restart_apiserver()  # its watch cache starts at the compacted revision
    rig.proxy.restore()
    wait_for(
        lambda: rig.metric("podsift_watch_relists_total") > relists, 60, "podsift to relist"
    )
    settle(rig, 9)


def test_podsift_killed_between_the_assumption_and_the_binding(rig):
    rig.proxy.hold_bindings()
    (name,) = rig.new_pods(1)
    assert rig.proxy.held_event.wait(60), "no Binding reached the proxy"
    assert name in rig.proxy.held[0]
    rig.kill_podsift()  # podsift had assumed the pod; its Binding never left the proxy
    rig.proxy.release()
    assert rig.api.pod(NAMESPACE, name)["spec"].get("nodeName") is None
    rig.restart_podsift()
    settle(rig, 10)  # kube-scheduler retried the pod; the new podsift bound it, once


def test_connection_to_the_api_server_cut_and_restored(rig):
    rig.proxy.cut()
    fresh = rig.new_pods(5)
    rig.delete([name.split("/")[1] for name in sorted(placements(rig.api, NAMESPACE))[:4]])
    wait_for(
        lambda: scheduling_failures(rig.api, NAMESPACE, fresh[0]),
        60,
        "a pod to fail scheduling while podsift cannot reach the API server",
    )
    assert all(rig.api.pod(NAMESPACE, n)["spec"].get("nodeName") is None for n in fresh)
    rig.proxy.restore()
    settle(rig, 11)


def _compact_etcd(port: int) -> None:
    """Compact etcd at its current revision (its JSON gateway, as etcdctl compact)."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, orjson.dumps(body), {"Content-Type": "application/json"})
        answer = orjson.loads(conn.getresponse().read())
        conn.close()
        return answer

    key = base64.b64encode(b"/registry/").decode()
    revision = int(post("/v3/kv/range", {"key": key, "limit": 1})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": revision, "physical": True})
