"""A small plain request runs in the worker's poller itself (extender/wire/worker.py).

The poller serves kube-scheduler's requests without handing them to a thread;
a thread still takes what could hold the poller up: a request that is not plain
(gunicorn's path), the rest of an answer the client does not read, a path whose
handler waits on the network (live mode's /bind). Each test runs a real
`podsift serve` and looks at its worker's threads in /proc.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import orjson
import pytest

from tests.fakeapi import FakeApiServer, make_node, make_pod, write_kubeconfig
from tests.server import Server
from tests.wire.test_handoff import _answer

NODES = 1000


def _worker(server: Server) -> int:
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as f:
        (pid,) = f.read().split()
    return int(pid)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _filter_body() -> bytes:
    from bench.workload import generate_split

    nodes, pods = generate_split(NODES, 1)  # the cluster --synthetic-nodes serves
    return orjson.dumps({"Pod": pods[0], "NodeNames": [n["metadata"]["name"] for n in nodes]})


@pytest.fixture
def server():
    server = Server(f"--synthetic-nodes={NODES}")
    yield server
    server.stop()


def test_plain_requests_are_served_by_the_poller_and_the_unusual_by_a_thread(server):
    worker = _worker(server)
    body = _filter_body()
    for _ in range(20):
        status, answer = server.post_raw("/filter", body)
        assert status == 200 and orjson.loads(answer)["Error"] == ""
        status, answer = server.get("/healthz")
        assert (status, answer) == (200, b"ok\n")
    # the poller alone: no request thread was started for them (nor for the
    # readiness probes before them); a snapshot server's worker has no other thread
    assert _threads(worker) == 1

    # chunked: not plain, so gunicorn's parser runs it, on a thread
    chunked = (
        f"POST /filter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(body):x}\r\n"
    ).encode() + body + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(chunked)
        head, answer = _answer(sock, bytearray())
    assert head.startswith(b"HTTP/1.1 200 ") and orjson.loads(answer)["Error"] == ""
    assert _threads(worker) == 2


def test_answers_the_client_does_not_read_are_finished_by_a_thread(server):
    # Twenty /explain answers of ~0.6 MB each, pipelined on one connection whose
    # client reads nothing at first: they outgrow what the kernel buffers on
    # loopback, so a first write falls short and a thread must send the rest.
    worker = _worker(server)
    before = _threads(worker)
    body = _filter_body()
    explain = f"POST /explain HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    count = 20
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
    slow.settimeout(60)
    slow.connect(("127.0.0.1", server.port))
    try:
        # sent from a thread: while nobody reads, the server stops reading too
        sender = threading.Thread(target=slow.sendall, args=((explain.encode() + body) * count,))
        sender.start()
        time.sleep(1.0)  # the poller runs the first requests until a write falls short
        # the poller is free: another client is answered while those answers wait
        status, answer = server.get("/healthz")
        assert (status, answer) == (200, b"ok\n")
        assert _threads(worker) > before  # a thread took the rest of an answer
        buf = bytearray()
        for _ in range(count):  # now read them: whole, valid and in order
            head, answer = _answer(slow, buf)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert len(orjson.loads(answer)["nodes"]) == NODES
        sender.join(30)
        # and the connection serves its next request
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, answer = _answer(slow, buf)
        assert head.startswith(b"HTTP/1.1 200 ") and answer == b"ok\n"
    finally:
        slow.close()


def test_a_thousand_pipelined_requests_are_answered_in_order(server):
    requests = b"".join(
        f"GET /healthz?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(1000)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(requests)
        buf = bytearray()
        for _ in range(1000):
            head, answer = _answer(sock, buf)
            assert head.startswith(b"HTTP/1.1 200 ") and answer == b"ok\n"
        assert not buf


def test_a_bind_that_waits_on_the_api_server_does_not_hold_up_other_requests(tmp_path):
    api = FakeApiServer(bookmark_interval=0.5)
    api.start()
    try:
        api.upsert_node(make_node("node-0"))
        api.upsert_pod(make_pod("web", "uid-web", cpu="100m"))
        server = Server("--kubeconfig", write_kubeconfig(tmp_path / "kubeconfig", api.url))
        try:
            api.bind_delay = 2.0  # under the binder's 4 s timeout
            bound: list[tuple[int, object]] = []
            binding = {
                "PodName": "web",
                "PodNamespace": "default",
                "PodUID": "uid-web",
                "Node": "node-0",
            }
            sender = threading.Thread(target=lambda: bound.append(server.post("/bind", binding)))
            sender.start()
            time.sleep(0.5)  # the bind waits on the API server now
            status, answer = server.get("/healthz")
            assert (status, answer) == (200, b"ok\n")
            assert sender.is_alive() and not bound  # answered while the bind still waits
            sender.join(30)
            assert bound == [(200, {"Error": ""})]
        finally:
            server.stop()
    finally:
        api.stop()


def test_the_wrappers_around_the_app_keep_its_waits_on_io():
    # The worker reads `waits_on_io` off the outermost WSGI app it is given; the
    # client allow list and the CPU profiler wrap podsift's app in live mode too.
    from extender.server import ProfiledApp
    from extender.wire.access import ClientAllowList

    class LiveApp:
        waits_on_io = frozenset({"/bind"})

        def __call__(self, environ, start_response):
            raise AssertionError("not called")

    wrapped = ProfiledApp(ClientAllowList(LiveApp(), ["kube-scheduler"]), "/dev/null")
    assert wrapped.waits_on_io == frozenset({"/bind"})


# Loaded by the server's interpreter at start-up (PYTHONPATH's sitecustomize), before
# gunicorn forks its worker: a fault no real request can cause, on one path only.
_FAULT = '''
from extender.wire import worker

_serve_plain = worker.PodsiftWorker._serve_plain


def _faulty(self, conn, fast, environ, close):
    if environ.get("PATH_INFO") == "/fault":
        raise RuntimeError("injected fault")
    return _serve_plain(self, conn, fast, environ, close)


worker.PodsiftWorker._serve_plain = _faulty
'''


def test_an_error_serving_in_the_poller_closes_that_connection_not_the_worker(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(_FAULT)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    server = Server("--synthetic-nodes=50", env=env)
    try:
        worker = _worker(server)
        # a keep-alive client that was there before the fault
        other = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        healthz = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        other.sendall(healthz)
        head, answer = _answer(other, bytearray())
        assert head.startswith(b"HTTP/1.1 200 ") and answer == b"ok\n"

        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /fault HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536) == b""  # closed, with no answer

        # the same worker lives on, serves the client it had and new ones
        assert _worker(server) == worker
        other.sendall(healthz)
        head, answer = _answer(other, bytearray())
        assert head.startswith(b"HTTP/1.1 200 ") and answer == b"ok\n"
        other.close()
        assert server.get("/healthz") == (200, b"ok\n")
        log = server.output()
        assert "closing a connection after an error serving its request" in log
        assert "RuntimeError: injected fault" in log
    finally:
        server.stop()
