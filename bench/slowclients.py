"""A scheduler's latency while idle and slow clients stay connected.

    python -m bench.slowclients [--idle 100] [--slow 100] [--requests 200] [--tls]

Starts `podsift serve` on a synthetic cluster (loopback), times a scheduler's
requests (/filter and /prioritize on one kept-alive connection, /healthz on a new
connection each time) alone, then again while IDLE connections send nothing and
SLOW connections send one byte a second (request headers, a body, or with --tls a
ClientHello), and prints the latencies of both runs. tests/wire/test_slow_clients.py
uses the same attackers.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.pki import make_tls
from bench.workload import generate

SLOW_HEAD = b"POST /filter HTTP/1.1\r\nHost: podsift\r\nContent-Length: 2000\r\n\r\n"


def client_hello(ctx: ssl.SSLContext) -> bytes:
    """The first flight of a TLS handshake, to send a byte at a time."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        return outgoing.read()
    raise AssertionError("a TLS handshake cannot complete without the server")


class Attackers:
    """`idle` connections that send nothing and `slow` ones that send a byte a second.

    Plain: half drip request headers, half send headers and drip the body.
    TLS: half drip a ClientHello, half complete the handshake and drip headers.
    """

    def __init__(self, port: int, idle: int, slow: int, tls: ssl.SSLContext | None = None):
        self.idle: list[socket.socket] = []
        self.slow: list[tuple[socket.socket, bytes]] = []
        for _ in range(idle):
            self.idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for i in range(slow):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            if tls is None:
                if i % 2:
                    self.slow.append((raw, SLOW_HEAD))
                else:
                    raw.sendall(SLOW_HEAD)
                    self.slow.append((raw, b"{" * 2000))
            elif i % 2:
                self.slow.append((raw, client_hello(tls)))
            else:
                wrapped = tls.wrap_socket(raw, server_hostname="127.0.0.1")
                self.slow.append((wrapped, SLOW_HEAD))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        offset = 0
        while not self.stop.wait(1.0):
            for sock, payload in self.slow:
                if offset < len(payload):
                    try:
                        sock.send(payload[offset : offset + 1])
                    except OSError:
                        pass
            offset += 1

    def still_open(self) -> int:
        """How many of the attackers' connections the server has not closed."""
        count = 0
        for sock in self.idle + [s for s, _ in self.slow]:
            sock.setblocking(False)
            try:
                data = sock.recv(1)
            except (BlockingIOError, ssl.SSLWantReadError):
                count += 1
                continue
            except OSError:
                continue
            finally:
                sock.setblocking(True)
            if data:
                count += 1  # it answered something, but the connection is still there
        return count

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.idle + [s for s, _ in self.slow]:
            sock.close()


def schedule(
    connect: Callable[[], http.client.HTTPConnection], names: list[str], pods: list[dict]
) -> list[tuple[str, int, float]]:
    """The scheduler's requests: (path, status, seconds) for each, in order."""
    results = []
    conn = connect()
    try:
        for pod in pods:
            for verb in ("/filter", "/prioritize"):
                body = orjson.dumps({"Pod": pod, "Nodes": None, "NodeNames": names})
                start = time.perf_counter()
                conn.request("POST", verb, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                results.append((verb, resp.status, time.perf_counter() - start))
            start = time.perf_counter()
            probe = connect()
            try:
                probe.request("GET", "/healthz")
                resp = probe.getresponse()
                resp.read()
            finally:
                probe.close()
            results.append(("/healthz", resp.status, time.perf_counter() - start))
    finally:
        conn.close()
    return results


def _summary(results: list[tuple[str, int, float]]) -> str:
    times = sorted(t for _, _, t in results)
    failed = sum(1 for _, status, _ in results if status != 200)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return (
        f"{len(results)} requests, {failed} not 200; p50 {statistics.median(times) * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms, max {times[-1] * 1e3:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slowclients", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="scheduling rounds")
    parser.add_argument("--idle", type=int, default=100)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS; slow = ClientHellos")
    args = parser.parse_args(argv)
    doc = generate(args.nodes, args.requests, seed=5)
    nodes = [i for i in doc["items"] if i["kind"] == "Node"]
    pods = [i for i in doc["items"] if i["kind"] == "Pod"]
    names = [n["metadata"]["name"] for n in nodes]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        snapshot = directory / "cluster.json"
        snapshot.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [sys.executable, "-m", "extender", "serve", f"--snapshot={snapshot}"]
        command += [f"--listen=127.0.0.1:{port}", f"--threads={args.threads}"]
        command += ["--log-level=warning", "--read-timeout=600"]
        ctx = None
        if args.tls:
            ca, cert, key = make_tls(directory)
            command += [f"--tls-cert={cert}", f"--tls-key={key}"]
            ctx = ssl.create_default_context(cafile=str(ca))

        def connect() -> http.client.HTTPConnection:
            if ctx is None:
                return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)

        server = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    c = connect()
                    c.request("GET", "/readyz")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("podsift serve did not become ready", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            schedule(connect, names, pods[:5])  # warm up
            print(f"alone:               {_summary(schedule(connect, names, pods))}")
            attackers = Attackers(port, args.idle, args.slow, ctx)
            try:
                time.sleep(3.0)
                attacked = schedule(connect, names, pods)
                open_after = attackers.still_open()
            finally:
                attackers.close()
            print(
                f"{args.idle} idle + {args.slow} slow: {_summary(attacked)}; "
                f"{open_after} of {args.idle + args.slow} attackers still connected"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
