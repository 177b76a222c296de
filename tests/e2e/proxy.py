"""A small HTTP reverse proxy between kube-scheduler and podsift, for what the
tests must see or vary on the wire: it forwards each request to the next
backend in turn (per request, not per connection: the worst case of a
round-robin Service) and records the verb, the backend and the request's
top-level JSON keys that are not null."""

from __future__ import annotations

import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class RoundRobinProxy:
    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        self.turn = itertools.count()
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer, kind = proxy.forward(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        with self.lock:
            index = next(self.turn) % len(self.backends)
        try:
            request = orjson.loads(body) if body else {}
            keys = sorted(k for k, v in request.items() if v is not None)
        except orjson.JSONDecodeError:
            keys = []
        conn = http.client.HTTPConnection("127.0.0.1", self.backends[index], timeout=30)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            status, kind = response.status, response.getheader("Content-Type", "application/json")
        except OSError as exc:
            status, answer, kind = 502, f"proxy: backend {index}: {exc}".encode(), "text/plain"
        finally:
            conn.close()
        with self.lock:
            self.seen.append({"path": path, "backend": index, "keys": keys, "status": status})
        return status, answer, kind

    def __enter__(self) -> RoundRobinProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
