"""Clients that send nothing, or send slowly, hold no thread and delay nobody.

A real `podsift serve` (gunicorn, --threads 4) is attacked from loopback by 100
idle connections and 100 connections that send one byte a second (headers, a
body, or a TLS handshake), while a scheduler's requests must each answer within
kube-scheduler's 5 s extender timeout (a liveness bound; no wall time is
asserted otherwise). Before podsift's worker (extender/wire/worker.py), four such
connections held every thread and nothing answered at all.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.slowclients import Attackers, schedule
from bench.workload import generate
from extender.wire.worker import Framing
from tests.server import Server
from tests.wire.test_tls import (
    CertificateAuthority,
    start_server,
    stop_server,
)

IDLE, SLOW = 100, 100
BOUND = 5.0  # kube-scheduler's default extender timeout: the liveness bound per request
REQUESTS = 20
NODES = 40


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> tuple[Path, list[str], list[dict]]:
    doc = generate(NODES, REQUESTS, seed=11)
    nodes = [i for i in doc["items"] if i["kind"] == "Node"]
    pods = [i for i in doc["items"] if i["kind"] == "Pod"]
    path = tmp_path_factory.mktemp("slow") / "cluster.json"
    path.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
    return path, [n["metadata"]["name"] for n in nodes], pods


def _answers_while_attacked(port: int, connect, names, pods, tls=None) -> None:
    attackers = Attackers(port, IDLE, SLOW, tls)
    try:
        time.sleep(3.0)  # the drips have started; every idle connection has been accepted
        # each request's socket timeout is the 5 s bound: a late answer raises
        results = schedule(connect, names, pods)
        assert [status for _, status, _ in results] == [200] * (3 * len(pods))
        # the attack lasted the whole time: the server closed none of its connections
        assert attackers.still_open() == IDLE + SLOW
    finally:
        attackers.close()


def test_scheduler_answers_with_idle_and_slow_plain_connections_open(cluster):
    path, names, pods = cluster
    server = Server(f"--snapshot={path}", "--threads=4", "--read-timeout=120")
    try:
        connect = lambda: http.client.HTTPConnection(  # noqa: E731
            "127.0.0.1", server.port, timeout=BOUND
        )
        _answers_while_attacked(server.port, connect, names, pods)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "podsift")
    server = ca.issue(
        "server", [ExtendedKeyUsageOID.SERVER_AUTH], ips=["127.0.0.1"], dns=["localhost"]
    )
    return ca, server


def test_scheduler_answers_with_idle_and_slow_tls_connections_open(cluster, tls_pki, tmp_path):
    path, names, pods = cluster
    ca, cert = tls_pki
    ctx = ssl.create_default_context(cafile=str(ca.path))
    server = start_server(
        tmp_path,
        [
            f"--tls-cert={cert.cert}",
            f"--tls-key={cert.key}",
            "--threads=4",
            "--read-timeout=120",
            f"--snapshot={path}",
        ],
        ctx,
    )
    try:
        connect = lambda: http.client.HTTPSConnection(  # noqa: E731
            "127.0.0.1", server.port, context=ctx, timeout=BOUND
        )
        _answers_while_attacked(server.port, connect, names, pods, tls=ctx)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------------------
# Deadlines, the connection table, the body limit


@pytest.fixture(scope="module")
def short_timeout_server(cluster) -> Iterator[Server]:
    path, _, _ = cluster
    server = Server(f"--snapshot={path}", "--read-timeout=2")
    yield server
    server.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_connection_that_never_sends_is_closed_after_the_read_timeout(short_timeout_server):
    with socket.create_connection(("127.0.0.1", short_timeout_server.port)) as sock:
        assert _closed_within(sock, 30)


def test_a_request_that_never_completes_is_closed_after_the_read_timeout(short_timeout_server):
    with socket.create_connection(("127.0.0.1", short_timeout_server.port)) as sock:
        sock.sendall(b"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
        assert _closed_within(sock, 30)


def test_a_content_length_over_the_limit_is_refused_without_waiting_for_the_body(
    short_timeout_server,
):
    answers = []
    socks = [socket.create_connection(("127.0.0.1", short_timeout_server.port)) for _ in range(8)]
    try:
        for sock in socks:
            sock.sendall(b"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
        for sock in socks:
            sock.settimeout(BOUND)
            answer = b""
            while chunk := sock.recv(4096):  # the server closes after the answer
                answer += chunk
            answers.append(answer)
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 413 ") for a in answers), answers
    assert all(b"\r\nConnection: close\r\n" in a for a in answers), answers
    assert all(b'"Error"' in a for a in answers)
    assert short_timeout_server.get("/healthz")[0] == 200


def test_pipelined_requests_are_each_answered(short_timeout_server):
    with socket.create_connection(("127.0.0.1", short_timeout_server.port), timeout=BOUND) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        got = b""
        while got.count(b"HTTP/1.1 200") < 3:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk


def test_expect_100_continue_is_answered_before_the_body(short_timeout_server, cluster):
    _, names, pods = cluster
    body = orjson.dumps({"Pod": pods[0], "Nodes": None, "NodeNames": names})
    with socket.create_connection(("127.0.0.1", short_timeout_server.port), timeout=BOUND) as s:
        s.sendall(
            b"POST /filter HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert b"100 Continue" not in reply  # not sent a second time


def test_a_full_connection_table_evicts_idle_connections_for_new_ones(short_timeout_server):
    """gunicorn's table holds 1,000 connections; idle ones must not lock out the scheduler."""
    port = short_timeout_server.port
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1100)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=BOUND)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        for sock in idle:
            sock.close()


# --------------------------------------------------------------------------------------
# Where a request ends (the poller's framing)

MAX_BODY = 10_000
HEAD_LIMIT = 100_000


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, pos = b"", 0
    for size in sizes:
        piece = body[pos : pos + size]
        if not piece:
            break
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
        pos += len(piece)
    if pos < len(body):
        out += f"{len(body) - pos:X}\r\n".encode() + body[pos:] + b"\r\n"
    return out + b"0\r\n\r\n"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    body=st.binary(max_size=600),
    chunked=st.booleans(),
    sizes=st.lists(st.integers(1, 200), max_size=6),
    trailing=st.binary(max_size=40),
)
def test_framing_finds_the_end_of_every_request_and_no_earlier(body, chunked, sizes, trailing):
    if chunked:
        request = b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, sizes)
    else:
        request = b"POST /f HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    # as the worker uses it: one instance, the bytes arriving one at a time
    framing = Framing(MAX_BODY, HEAD_LIMIT)
    for cut in range(len(request)):
        assert framing.check(bytearray(request[:cut]))[0] == Framing.MORE, cut
    assert framing.check(bytearray(request + trailing))[:2] == (Framing.READY, len(request))
    # and a fresh look at any prefix agrees
    for cut in range(0, len(request), 7):
        state, _, _ = Framing.scan(bytearray(request[:cut]), MAX_BODY, HEAD_LIMIT)
        assert state == Framing.MORE, cut
    state, end, _ = Framing.scan(bytearray(request + trailing), MAX_BODY, HEAD_LIMIT)
    assert (state, end) == (Framing.READY, len(request))


def test_framing_limits():
    over = b"POST /f HTTP/1.1\r\nContent-Length: 10001\r\n\r\n"
    assert Framing.scan(bytearray(over), MAX_BODY, HEAD_LIMIT)[0] == Framing.TRUNCATED
    chunk = b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"2711\r\n"
    assert Framing.scan(bytearray(chunk), MAX_BODY, HEAD_LIMIT)[0] == Framing.CHUNKED_TOO_LARGE
    head = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000
    assert Framing.scan(bytearray(head), MAX_BODY, HEAD_LIMIT)[0] == Framing.HEAD_TOO_LARGE
    # what the parser must refuse is handed to it at once, not waited for
    both = b"POST /f HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert Framing.scan(bytearray(both), MAX_BODY, HEAD_LIMIT)[0] == Framing.READY
    twice = b"POST /f HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
    assert Framing.scan(bytearray(twice), MAX_BODY, HEAD_LIMIT)[0] == Framing.READY
