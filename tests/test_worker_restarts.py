"""A worker killed under a real gunicorn master, in snapshot mode.

The master holds the state it loaded at start and forks each worker from it, so a
killed worker's replacement serves the snapshot again: the binds since start are
lost. /readyz must say so (and /metrics count it), and neither a vanished snapshot
nor a vanished policy file may stop the server. Loopback only, every wait bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time

import orjson

from extender.testing import node, pod
from tests.server import ROOT, Server


def worker_pids(master: int) -> list[int]:
    """The gunicorn worker(s): the master's children, from /proc."""
    pids: list[int] = []
    for task in os.listdir(f"/proc/{master}/task"):
        try:
            with open(f"/proc/{master}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:  # the task ended meanwhile
            pass
    return pids


def kill_worker_and_wait_for_the_next(server: Server, timeout: float = 60) -> int:
    """kill -9 the one worker; the pid of its replacement once /readyz answers."""
    (old,) = worker_pids(server.proc.pid)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, f"the master exited:\n{server.output()}"
        pids = [p for p in worker_pids(server.proc.pid) if p != old]
        if pids:
            try:
                status, _ = server.get("/readyz")
                if status == 200:
                    return pids[0]
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no new worker within {timeout} s:\n{server.output()}")


def bind(server: Server, name: str, cpu: str) -> None:
    args = {"Pod": pod(name, cpu=cpu, uid=f"uid-{name}"), "NodeNames": ["node-a"]}
    assert server.post("/filter", args)[1]["NodeNames"] == ["node-a"]
    binding = {"PodName": name, "PodNamespace": "default", "PodUID": f"uid-{name}"}
    assert server.post("/bind", {**binding, "Node": "node-a"}) == (200, {"Error": ""})


def fits(server: Server, cpu: str) -> bool:
    args = {"Pod": pod("probe", cpu=cpu, uid="uid-probe"), "NodeNames": ["node-a"]}
    return server.post("/filter", args)[1]["NodeNames"] == ["node-a"]


def reconnect(server: Server) -> None:
    """The scheduler's kept-alive connection died with the worker that held it."""
    server.conn.close()


def metric(server: Server, name: str) -> float:
    _, body = server.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_killed_worker_serves_the_snapshot_again_and_readyz_says_what_was_lost(tmp_path):
    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(
        orjson.dumps({"apiVersion": "v1", "kind": "List", "items": [node("node-a", cpu="4")]})
    )
    policy = tmp_path / "policy.yaml"
    shutil.copy(ROOT / "manifests/base/policy.yaml", policy)
    server = Server("--snapshot", str(snapshot), "--config", str(policy))
    try:
        assert server.get("/readyz") == (200, b"ready\n")  # nothing to admit yet
        for i in range(3):
            bind(server, f"web-{i}", "1")
        assert not fits(server, "2")  # 3 of 4 CPUs bound

        kill_worker_and_wait_for_the_next(server)
        reconnect(server)
        status, body = server.get("/readyz")
        assert status == 200, body  # the snapshot's state is whole: it is served
        assert b"worker restarted 1 time(s): 3 bind(s) since start were lost" in body
        assert fits(server, "2")  # what was lost: the three binds
        assert metric(server, "podsift_worker_restarts_total") == 1
        assert metric(server, "podsift_binds_lost_total") == 3

        # Both files the master read at start vanish; another bind, another kill.
        bind(server, "web-3", "1")
        snapshot.unlink()
        policy.unlink()
        kill_worker_and_wait_for_the_next(server)
        reconnect(server)
        status, body = server.get("/readyz")
        assert status == 200, body
        assert b"worker restarted 2 time(s): 4 bind(s) since start were lost" in body
        assert f"snapshot {snapshot} is gone: serving the copy loaded at start".encode() in body
        assert fits(server, "4")  # the snapshot as loaded, still served
        assert metric(server, "podsift_binds_lost_total") == 4
    finally:
        server.stop()


def test_sigterm_to_the_master_lets_a_request_in_flight_finish(tmp_path):
    """Graceful stop: the worker finishes a request whose body is still arriving."""
    snapshot = tmp_path / "cluster.json"
    snapshot.write_bytes(
        orjson.dumps({"apiVersion": "v1", "kind": "List", "items": [node("node-a", cpu="4")]})
    )
    server = Server("--snapshot", str(snapshot))
    try:
        body = orjson.dumps({"Pod": pod("web", cpu="1", uid="uid-web"), "NodeNames": ["node-a"]})
        head = (
            f"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            # one whole request first: the worker has surely taken this connection
            sock.sendall(head + body)
            first = read_response(sock)
            assert first.startswith(b"HTTP/1.1 200"), first
            sock.sendall(head + body[:10])
            time.sleep(0.5)  # the worker reads the body now
            os.kill(server.proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[10:])
            second = read_response(sock)
        assert second.startswith(b"HTTP/1.1 200"), second
        assert orjson.loads(second.split(b"\r\n\r\n", 1)[1])["NodeNames"] == ["node-a"]
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.stop()


def read_response(sock: socket.socket) -> bytes:
    """One HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        rest += chunk
    return head + b"\r\n\r\n" + rest
