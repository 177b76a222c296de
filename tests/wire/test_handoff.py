"""The hand-off between the worker's poller and its threads (extender/wire/worker.py).

A connection stays registered with the poller while a thread runs its request,
and comes back through a deque without waking the poller. Input that arrives
meanwhile (the next request sent before the answer came, a client closing its
side) takes the other way back; either way every request is answered, in order,
and a close is seen.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from bench.workload import generate_split
from tests.server import Server

NODES = 1000  # a /filter that takes a few milliseconds: time for input to arrive meanwhile


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = Server(f"--synthetic-nodes={NODES}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def filter_request() -> bytes:
    nodes, pods = generate_split(NODES, 1)  # the cluster --synthetic-nodes serves
    body = orjson.dumps({"Pod": pods[0], "NodeNames": [n["metadata"]["name"] for n in nodes]})
    head = f"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _answer(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes]:
    """One answer's head and body off the connection."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(1 << 20)
        assert data, bytes(buf)
        buf += data
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end])
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(buf) < end + 4 + length:
        data = sock.recv(1 << 20)
        assert data, bytes(buf)
        buf += data
    body = bytes(buf[end + 4 : end + 4 + length])
    del buf[: end + 4 + length]
    return head, body


def test_a_request_sent_before_the_previous_answer_is_answered_after_it(server, filter_request):
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        buf = bytearray()
        for gap in (0.0, 0.0005, 0.002) * 10:  # at once, in one recv, or while a thread runs
            sock.sendall(filter_request)
            time.sleep(gap)
            sock.sendall(health)
            head, body = _answer(sock, buf)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert orjson.loads(body)["Error"] == ""
            head, body = _answer(sock, buf)
            assert head.startswith(b"HTTP/1.1 200 ") and body == b"ok\n"


def test_a_client_that_closes_its_side_after_a_request_gets_its_answer(server, filter_request):
    for _ in range(10):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(filter_request)
            sock.shutdown(socket.SHUT_WR)
            got = b""
            while data := sock.recv(1 << 20):
                got += data
            assert got.startswith(b"HTTP/1.1 200 ")
            assert got.count(b"HTTP/1.1 ") == 1  # and then the server closed


def test_connection_close_is_answered_and_honoured(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = b""
        while data := sock.recv(1 << 20):
            got += data
    assert got.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: close\r\n" in got
    assert got.endswith(b"\r\n\r\nok\n")
