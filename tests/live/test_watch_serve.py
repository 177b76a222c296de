"""`podsift serve --kubeconfig FILE` end to end: a real gunicorn process watching the
loopback fake API server, answering kube-scheduler's verbs and binding through the API."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.fakeapi import FakeApiServer, make_node, make_pod, write_kubeconfig
from tests.server import Server

BOUND = 30.0


def wait_until(predicate, bound: float = BOUND) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture
def api():
    srv = FakeApiServer(bookmark_interval=0.5)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def kubeconfig(api, tmp_path):
    return write_kubeconfig(tmp_path / "kubeconfig", api.url, token="t0ken")


def milli(cpu: str) -> int:
    return int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000


def test_serve_schedules_and_binds_through_the_api_server(api, kubeconfig):
    names = [f"node-{i}" for i in range(3)]
    for n in names:
        api.upsert_node(make_node(n, cpu="1"))
    api.upsert_pod(make_pod("running", "uid-running", node="node-0", cpu="500m"))
    pending = [make_pod(f"web-{i}", f"uid-web-{i}", cpu="300m") for i in range(8)]
    for p in pending:
        api.upsert_pod(p)

    server = Server("--kubeconfig", kubeconfig)  # returns once /readyz answers 200
    try:
        assert api.authorization[-1] == "Bearer t0ken"
        bound, refused = 0, 0
        for p in pending:
            status, res = server.post("/filter", {"Pod": p, "Nodes": None, "NodeNames": names})
            assert status == 200 and res["Error"] == ""
            if not res["NodeNames"]:
                refused += 1
                continue
            status, prio = server.post("/prioritize", {"Pod": p, "NodeNames": res["NodeNames"]})
            assert status == 200
            best = max(prio, key=lambda e: e["Score"])["Host"]
            args = {
                "PodName": p["metadata"]["name"],
                "PodNamespace": "default",
                "PodUID": p["metadata"]["uid"],
                "Node": best,
            }
            status, res = server.post("/bind", args)
            assert status == 200 and res["Error"] == ""
            bound += 1
        # capacity 3000m, 500m used: 8 x 300m fits 8 only if spread; the node holding
        # 500m takes one pod, the others three each: 7 bound, 1 refused, none overcommitted
        assert (bound, refused) == (7, 1)
        truth = api.truth()
        used: dict[str, int] = {}
        for uid, node in truth["pods"].items():
            cpu = api.objects["pods"][uid]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
            used[node] = used.get(node, 0) + milli(cpu)
        assert all(v <= 1000 for v in used.values()), used
        assert len(truth["pods"]) == 8

        # a conflicting bind comes back in the protocol's Error field
        p = pending[0]
        status, _ = server.post("/filter", {"Pod": p, "Nodes": None, "NodeNames": names})
        assert status == 200  # (remembers the pod's spec again)
        api.bind_status = 409
        status, res = server.post(
            "/bind",
            {
                "PodName": "web-0",
                "PodNamespace": "default",
                "PodUID": "uid-web-0",
                "Node": "node-1",
            },
        )
        assert status == 200 and "409" in res["Error"]

        status, body = server.get("/metrics")
        assert status == 200 and b"podsift_watch_events" in body
    finally:
        server.stop()


def test_serve_is_not_ready_until_the_first_list(api, kubeconfig):
    api.upsert_node(make_node("node-0"))
    api.fail_next_lists = 10**6  # the API server answers 500 to every List
    server = Server("--kubeconfig", kubeconfig, ready_path="/healthz")
    try:
        assert wait_until(lambda: api.count("GET", "/api/v1/nodes") >= 2)
        assert server.get("/readyz")[0] == 503
        # not synced: every verb errors, so kube-scheduler retries instead of preempting
        pod = make_pod("web", "uid-web", node="")
        args = {"Pod": pod, "Nodes": None, "NodeNames": ["node-0"]}
        status, res = server.post("/filter", args)
        assert status == 200 and "not synced" in res["Error"] and "list failed" in res["Error"]
        assert res["FailedNodes"] == {} and not res["NodeNames"]
        bind = {"PodName": "web", "PodNamespace": "default", "PodUID": "uid-web", "Node": "node-0"}
        status, res = server.post("/bind", bind)
        assert status == 200 and "not synced" in res["Error"]
        for verb in ("/prioritize", "/explain"):
            server.conn.request("POST", verb, body=orjson.dumps(args))
            resp = server.conn.getresponse()
            assert resp.status == 503 and resp.getheader("Retry-After") == "1"
            assert "not synced" in orjson.loads(resp.read())["Error"]
        assert api.count("POST", "/api/v1/namespaces/default/pods/web/binding") == 0
        _, body = server.get("/metrics")
        assert b'podsift_requests_total{outcome="not_ready",verb="filter"} 1.0' in body
        api.fail_next_lists = 0
        assert wait_until(lambda: server.get("/readyz")[0] == 200)
        status, res = server.post("/filter", args)
        assert status == 200 and res["Error"] == "" and res["NodeNames"] == ["node-0"]
    finally:
        server.stop()


def test_any_replica_binds_a_pending_pod_it_knows_only_from_its_watch(api, kubeconfig):
    """CONTRACT §1: the /filter went to another replica; this one binds from its watch."""
    api.upsert_node(make_node("node-0", cpu="1"))
    api.upsert_pod(make_pod("web", "uid-web", cpu="300m"))
    server = Server("--kubeconfig", kubeconfig)
    try:
        args = {"PodName": "web", "PodNamespace": "default", "PodUID": "uid-web", "Node": "node-0"}
        status, res = server.post("/bind", args)  # no /filter or /prioritize before it
        assert status == 200 and res["Error"] == ""
        assert api.truth()["pods"] == {"uid-web": "node-0"}
        # a pod created after the List arrives through the watch, and binds the same way
        api.upsert_pod(make_pod("late", "uid-late", cpu="300m"))
        late = {**args, "PodName": "late", "PodUID": "uid-late"}
        assert wait_until(lambda: server.post("/bind", late)[1]["Error"] == "")
        assert wait_until(lambda: api.truth()["pods"].get("uid-late") == "node-0")
    finally:
        server.stop()
