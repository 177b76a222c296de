"""A faulty network between podsift and kube-apiserver, on demand.

podsift's kubeconfig points here instead of at the API server. The proxy ends
TLS with the API server's own certificate (so podsift still verifies it
against the cluster CA), reads one request, forwards it over a new TLS
connection with `Connection: close`, and streams the answer back (a watch
streams until one side closes). One request per connection is what lets it
see each request's path. On demand it:

- `cut()`: closes every open connection (watches included) and refuses new
  ones, as a network partition or a load balancer restart would;
- `restore()`: listens again on the same port;
- `hold_bindings()`: keeps every pods/binding request it receives without
  forwarding it (the API server never sees it), until `release()`.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path


class ApiFaultProxy:
    def __init__(self, upstream_port: int, pki: Path) -> None:
        self.upstream_port = upstream_port
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_context.load_cert_chain(pki / "tls.crt", pki / "tls.key")
        self.client_context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.port = 0
        self.holding = False
        self.released = threading.Event()
        self.held: list[str] = []
        self.held_event = threading.Event()
        self.forwarded = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # ---- lifecycle ---------------------------------------------------------
    def start(self) -> ApiFaultProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Close everything; new connections are refused until restore()."""
        with self.lock:
            listener, self.listener = self.listener, None
            open_sockets, self.sockets = list(self.sockets), set()
        if listener is not None:
            _close(listener)  # shutdown first: it wakes the thread blocked in accept()
        for sock in open_sockets:
            _close(sock)

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.release()
        self.cut()

    def hold_bindings(self) -> None:
        self.released.clear()
        self.holding = True

    def release(self) -> None:
        self.holding = False
        self.released.set()

    # ---- one connection, one request ------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # cut()
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _track(self, sock: socket.socket) -> bool:
        with self.lock:
            if self.listener is None:
                return False
            self.sockets.add(sock)
            return True

    def _serve(self, raw: socket.socket) -> None:
        if not self._track(raw):
            _close(raw)
            return
        upstream: socket.socket | None = None
        client: socket.socket | None = None
        try:
            client = self.server_context.wrap_socket(raw, server_side=True)
            self._track(client)
            head, body = _read_request(client)
            if head is None:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            if self.holding and "/binding" in request_line:
                self.held.append(request_line)
                self.held_event.set()
                self.released.wait()
                return  # never forwarded: the caller sees its connection closed
            upstream = self.client_context.wrap_socket(
                socket.create_connection(("127.0.0.1", self.upstream_port)),
                server_hostname="127.0.0.1",
            )
            if not self._track(upstream):
                return
            upstream.sendall(_with_connection_close(head) + body)
            self.forwarded += 1
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            for sock in (upstream, client, raw):
                if sock is not None:
                    _close(sock)
                    with self.lock:
                        self.sockets.discard(sock)


def _read_request(sock: ssl.SSLSocket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def _with_connection_close(head: bytes) -> bytes:
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
