"""A small HTTP/1.1 client for one thing: podsift's Binding POSTs, cheaply.

Why it exists: with bindVerb, kube-scheduler waits on podsift for every pod's
Binding, and podsift's share of the machine's CPU is the throughput limit
(docs/PERFORMANCE.md, "kube-scheduler's whole cycle"). Through urllib3's
PoolManager a Binding POST cost ~0.45 ms of CPU: URL parsing and pool lookup,
the Retry and Timeout objects, http.client's request building, and its
response-header parsing through the email package. A Binding is one small
request and one small answer on a kept-alive connection: built as one bytes
string, sent in one write, its answer parsed with a few `find`s, it costs a
fraction of that. The watch and list requests stay on urllib3 (a handful per
run, not one a pod), and so do Bindings through an HTTP proxy (CONNECT
tunnels, proxy authentication: urllib3 does them, and they are off the path
that matters).

What it does, and must keep doing:

- keep-alive over a small thread-safe pool of connections (gunicorn's threads
  bind concurrently), LIFO so the connections in use stay warm;
- a pooled connection the server closed while it sat idle (its socket is
  readable when no answer is due: EOF or a TLS close_notify) is dropped before
  a request is written to it, never after;
- a POST is not idempotent (a Binding retried after it succeeded comes back
  409): a request is retried, once and on a new connection, only when writing
  it to a reused connection failed, that is when the whole request provably
  never left; once written, any failure is the caller's to see;
- the answer: Content-Length or chunked bodies (with chunk extensions and
  trailers), or a body to the end of the connection; 1xx interim answers
  skipped; `Connection: close` and HTTP/1.0 honoured; a body longer than
  `max_body` is truncated and its connection dropped rather than drained;
- TLS from one `ssl.SSLContext` built once (CA file, client certificate,
  verification off for insecure-skip-tls-verify), the SNI and the hostname
  checked being `server_hostname` (the kubeconfig's tls-server-name) when given.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

# one recv's size: a Binding's answer (a Status, ~300 bytes with headers) fits
_RECV_SIZE = 16 * 1024
# the status line and headers of an answer, at most (a guard against garbage)
MAX_HEAD = 64 * 1024
# a body kept, at most: more is truncated and the connection dropped, not drained
MAX_BODY = 1024 * 1024
_NO_BODY_STATUSES = (204, 304)
_HEX = b"0123456789abcdefABCDEF"


class PostError(Exception):
    """The request did not get an answer."""


class ConnectFailed(PostError):
    """No connection (DNS, refused, timeout, TLS handshake): nothing was sent."""


class NoAnswer(PostError):
    """Sent (or maybe sent): the connection closed, timed out or answered garbage."""


class BadResponse(NoAnswer):
    """What came back is not an HTTP/1.x answer this client can read."""


class Response(NamedTuple):
    status: int
    reason: str
    body: bytes
    reusable: bool  # the connection may carry another request
    truncated: bool = False  # the body was longer than max_body


# ---- the answer --------------------------------------------------------------------


class _Reader:
    """Bytes from `recv` with a cursor; reads more only when what is held runs out."""

    __slots__ = ("buf", "pos", "recv")

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self.recv = recv
        self.buf = b""
        self.pos = 0

    def fill(self) -> bool:
        data = self.recv(_RECV_SIZE)
        if not data:
            return False
        self.buf = self.buf[self.pos :] + data if self.pos else self.buf + data
        self.pos = 0
        return True

    def until(self, sep: bytes, limit: int, what: str) -> bytes:
        """The bytes before the next `sep` (consumed, `sep` too)."""
        while True:
            end = self.buf.find(sep, self.pos)
            if end >= 0:
                out = self.buf[self.pos : end]
                self.pos = end + len(sep)
                return out
            if len(self.buf) - self.pos > limit:
                raise BadResponse(f"{what} longer than {limit} bytes")
            if not self.fill():
                raise NoAnswer(f"connection closed inside the answer's {what}")

    def exactly(self, n: int, what: str) -> bytes:
        buf, pos = self.buf, self.pos
        if len(buf) - pos >= n:  # the usual case: the whole body came with the head
            self.pos = pos + n
            return buf[pos : pos + n]
        # a long body: gathered in parts, not by growing one buffer (quadratic)
        parts = [buf[pos:]]
        need = n - len(parts[0])
        self.buf, self.pos = b"", 0
        while need > 0:
            data = self.recv(min(max(_RECV_SIZE, need), 256 * 1024))
            if not data:
                raise NoAnswer(f"connection closed inside the answer's {what}")
            if len(data) > need:
                parts.append(data[:need])
                self.buf = data[need:]
                break
            parts.append(data)
            need -= len(data)
        return b"".join(parts)

    def rest(self, limit: int) -> tuple[bytes, bool]:
        """Everything to the end of the connection: (bytes, truncated at `limit`)."""
        parts = [self.buf[self.pos :]]
        held = len(parts[0])
        self.buf, self.pos = b"", 0
        while held <= limit:
            data = self.recv(_RECV_SIZE)
            if not data:
                return b"".join(parts), False
            parts.append(data)
            held += len(data)
        return b"".join(parts)[:limit], True

    def leftover(self) -> bool:
        return self.pos < len(self.buf)


_CONTENT_LENGTH = b"\r\ncontent-length:"
_TRANSFER_ENCODING = b"\r\ntransfer-encoding:"
_CONNECTION = b"\r\nconnection:"


def _field(lower: bytes, name: bytes) -> list[bytes]:
    """The values of every `name` field (given as b"\r\nname:") in a lower-cased head.

    Found with `find` rather than by splitting every line: the API server sends a
    dozen fields this client never reads (Audit-Id, Cache-Control, X-Kubernetes-...).
    """
    values: list[bytes] = []
    start = lower.find(name)
    while start >= 0:
        start += len(name)
        end = lower.find(b"\r\n", start)
        if end < 0:
            end = len(lower)
        values.append(lower[start:end].strip(b" \t"))
        start = lower.find(name, end)
    return values


def _parse_head(head: bytes) -> tuple[bytes, int, str, bytes]:
    """(version, status, reason, the head lower-cased for `_field`)."""
    line_end = head.find(b"\r\n")
    line = head if line_end < 0 else head[:line_end]
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise BadResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
    lower = head.lower()
    if b"\r\n " in lower or b"\r\n\t" in lower:  # obsolete line folding: one line again
        lower = lower.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    return version, int(code), reason.decode("latin-1").strip(), lower


def _tokens(values: list[bytes]) -> list[bytes]:
    """The comma-separated tokens of a field's values (already lower-case)."""
    return [t for v in values for t in (t.strip(b" \t") for t in v.split(b",")) if t]


def _content_length(values: list[bytes]) -> int:
    stripped = {t.strip(b" \t") for v in values for t in v.split(b",")}
    if len(stripped) != 1:
        raise BadResponse(f"conflicting Content-Length values {sorted(stripped)!r}")
    (value,) = stripped
    if not value.isdigit():
        raise BadResponse(f"bad Content-Length {value[:40]!r}")
    return int(value)


def _chunked(reader: _Reader, max_body: int) -> tuple[bytes, bool]:
    """A chunked body: (bytes, truncated); trailers read and ignored."""
    parts: list[bytes] = []
    kept = 0
    while True:
        line = reader.until(b"\r\n", 1024, "chunk size line")
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not size_text or size_text.lstrip(_HEX):
            raise BadResponse(f"bad chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        if kept + size > max_body:
            # keep what fits, then stop: the caller drops this connection
            parts.append(reader.exactly(max_body - kept, "chunked body"))
            return b"".join(parts), True
        parts.append(reader.exactly(size, "chunked body"))
        kept += size
        if reader.exactly(2, "chunked body") != b"\r\n":
            raise BadResponse("a chunk not followed by CRLF")
    trailers = 0
    while line := reader.until(b"\r\n", MAX_HEAD, "trailers"):  # up to the empty line
        trailers += len(line)
        if trailers > MAX_HEAD:
            raise BadResponse(f"trailers longer than {MAX_HEAD} bytes")
    return b"".join(parts), False


def read_response(recv: Callable[[int], bytes], max_body: int = MAX_BODY) -> Response:
    """Read one answer from `recv` (a socket's recv): raises NoAnswer or BadResponse."""
    reader = _Reader(recv)
    while True:
        head = reader.until(b"\r\n\r\n", MAX_HEAD, "status line and headers")
        version, status, reason, lower = _parse_head(head)
        if 100 <= status < 200 and status != 101:
            continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        break
    if status == 101:
        raise BadResponse("101 Switching Protocols to a POST")
    tokens = _tokens(_field(lower, _CONNECTION)) if _CONNECTION in lower else []
    if version == b"HTTP/1.0":
        reusable = b"keep-alive" in tokens and b"close" not in tokens
    else:
        reusable = b"close" not in tokens
    truncated = False
    coding = _tokens(_field(lower, _TRANSFER_ENCODING)) if _TRANSFER_ENCODING in lower else []
    if status in _NO_BODY_STATUSES:
        body = b""
    elif coding:
        if coding[-1] == b"chunked":
            body, truncated = _chunked(reader, max_body)
        else:  # a transfer coding without chunked last: the body ends with the connection
            body, truncated = reader.rest(max_body)
            reusable = False
    elif _CONTENT_LENGTH in lower:
        length = _content_length(_field(lower, _CONTENT_LENGTH))
        if length > max_body:
            body, truncated = reader.exactly(max_body, "body"), True
        else:
            body = reader.exactly(length, "body")
    else:
        body, truncated = reader.rest(max_body)
        reusable = False
    if truncated or reader.leftover():
        reusable = False  # unread bytes on the connection: it cannot carry another request
    return Response(status, reason, body, reusable, truncated)


# ---- TLS ---------------------------------------------------------------------------


def client_context(
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """The TLS client context: the CA file (the system's CAs when none), a client
    certificate when given, no verification at all when `verify` is False."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


# ---- connections -------------------------------------------------------------------


class _Conn:
    """A connection and the poll object that tells whether it died while idle."""

    __slots__ = ("poller", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.poller = select.poll()  # not select.select: gunicorn's fds may pass FD_SETSIZE
        self.poller.register(sock, select.POLLIN)

    def dropped(self) -> bool:
        """Whether the peer is gone: no answer is due on an idle connection, so
        anything to read (EOF, a TLS close_notify, a reset) means it is unusable."""
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            return bool(self.poller.poll(0))  # POLLHUP, POLLERR and POLLNVAL count too
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _header_lines(headers: Mapping[str, str]) -> bytes:
    for value in headers.values():
        if "\r" in value or "\n" in value:
            raise ValueError(f"a line break in the header value {value[:40]!r}")
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("latin-1")


class HttpPoster:
    """POSTs to one server (`http://` or `https://host[:port][/prefix]`) over
    kept-alive connections; thread-safe; at most `pool_size` idle connections kept."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        context_factory: Callable[[], ssl.SSLContext] | None = None,
        tls_files: Iterable[str | None] = (),
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        pool_size: int = 8,
        max_body: int = MAX_BODY,
    ) -> None:
        """`headers` go with every request (encoded once, here). `context_factory`
        builds the SSLContext on the first https connection (loading certificate
        files is for when a connection is wanted), and again for a new connection
        once one of `tls_files` (the CA, certificate and key it reads) has changed
        on disk: rotated client certificates are used without a restart, as
        urllib3, which re-reads them per connection, did."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/").encode("ascii")  # an API server behind a path
        self._tls = parts.scheme == "https"
        self._address = (parts.hostname, parts.port or (443 if self._tls else 80))
        self._server_hostname = server_hostname or parts.hostname
        self._context_factory = context_factory or client_context
        self._context: ssl.SSLContext | None = None
        self._context_lock = threading.Lock()
        self._tls_files = [f for f in tls_files if f]
        self._tls_signature: tuple[tuple[int, int], ...] | None = None
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._max_body = max_body
        self._idle: deque[_Conn] = deque()
        host = parts.netloc.rpartition("@")[2]
        self._fixed = f"Host: {host}\r\n".encode("ascii") + _header_lines(headers or {})
        self.connections_made = 0  # for tests and curiosity: new connections so far

    def _files_signature(self) -> tuple[tuple[int, int], ...]:
        signature = []
        for path in self._tls_files:
            try:
                found = os.stat(path)
                signature.append((found.st_mtime_ns, found.st_size))
            except OSError:
                signature.append((-1, -1))  # gone: the factory will say so
        return tuple(signature)

    def _ssl_context(self) -> ssl.SSLContext:
        """Called for each new connection only (a few stats, never per request)."""
        signature = self._files_signature()
        with self._context_lock:
            if self._context is None or signature != self._tls_signature:
                self._context = self._context_factory()
                self._tls_signature = signature
            return self._context

    def _connect(self) -> _Conn:
        try:
            sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.url}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                sock = self._ssl_context().wrap_socket(sock, server_hostname=self._server_hostname)
        except (OSError, ValueError) as exc:  # ssl.SSLError, a certificate file's error
            sock.close()
            raise ConnectFailed(f"TLS with {self.url} failed: {exc}") from exc
        self.connections_made += 1
        return _Conn(sock)

    def _take_idle(self) -> _Conn | None:
        while True:
            try:
                conn = self._idle.pop()  # deque.pop is atomic: no lock needed
            except IndexError:
                return None
            if not conn.dropped():
                return conn
            conn.close()

    def _give_back(self, conn: _Conn) -> None:
        if len(self._idle) < self._pool_size:
            self._idle.append(conn)
        else:
            conn.close()

    def post(
        self, path: str, body: bytes, timeout: float, headers: Mapping[str, str] | None = None
    ) -> Response:
        """POST `body` to `path` with `headers` besides those of every request;
        `timeout` bounds the write and each read. Raises ConnectFailed (nothing
        sent) or NoAnswer (sent, or maybe sent)."""
        request = b"".join(
            (
                b"POST ",
                self._prefix,
                path.encode("ascii"),
                b" HTTP/1.1\r\n",
                self._fixed,
                _header_lines(headers) if headers else b"",
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        conn = self._take_idle()
        if conn is not None:
            try:
                conn.sock.settimeout(timeout)
                conn.sock.sendall(request)
            except OSError:
                # The write failed, so the request's last bytes never left: the server
                # cannot have acted on it. The connection was stale; one new one.
                conn.close()
                conn = None
        if conn is None:
            conn = self._connect()
            try:
                conn.sock.settimeout(timeout)
                conn.sock.sendall(request)
            except OSError as exc:
                conn.close()
                raise NoAnswer(f"sending to {self.url} failed: {exc}") from exc
        try:
            response = read_response(conn.sock.recv, self._max_body)
        except TimeoutError as exc:
            conn.close()
            raise NoAnswer(f"no answer from {self.url} within {timeout:g} s") from exc
        except NoAnswer as exc:  # BadResponse too
            conn.close()
            raise type(exc)(f"{self.url}: {exc}") from exc
        except OSError as exc:
            conn.close()
            raise NoAnswer(f"reading the answer from {self.url} failed: {exc}") from exc
        if response.reusable:
            self._give_back(conn)
        else:
            conn.close()
        return response

    def close(self) -> None:
        """Close the idle connections (those in use close as their requests end)."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            conn.close()
