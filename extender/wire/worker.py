"""podsift's gunicorn worker: gthread's thread pool, but a thread only ever gets a
connection that holds a whole request.

gunicorn's gthread worker hands a new connection to a thread, which then does the
TLS handshake and reads headers and body with blocking calls and no deadline. With
four threads, four clients that send a byte a second (or one byte of a handshake, or
a Content-Length and then nothing) hold every thread, and every verb and /healthz
waits for as long as they stay connected. Here the main thread's poller does all the
waiting, with non-blocking sockets: the TLS handshake, the headers, and the body up
to its Content-Length or its last chunk. Only then is the request parsed, from
those buffered bytes (never from the socket: nothing can block on a read), and the
app run: by the poller itself for a small plain request, else by a thread. Each
connection has a deadline in the poller: an idle kept-alive one closes after
--keepalive seconds, a handshake or a request must be complete --read-timeout
seconds after it starts. When the connection limit is reached the oldest idle or
incomplete connection makes room, so nobody can fill the table. A thread writes
what the first write left of an answer under a timeout without progress, so a
client that does not read cannot hold it for longer than that either.

What a request costs besides the app (issues 11 and 13; figures in
docs/PERFORMANCE.md, "The worker's cost per request" and "One thread for a plain
request"). Per plain request the worker makes three syscalls (epoll_wait, recv,
send) and, for the usual request, no thread switch at all:
- a plain request (wire/fastpath.py) is served without gunicorn's Request and
  Response: the environ is built from the framed bytes and head and body go out
  in one non-blocking write, so the socket never flips to blocking and back;
  anything unusual takes gunicorn's path, on a thread, as before;
- a small plain request (INLINE_MAX: kube-scheduler's) runs in the poller itself
  while no thread runs one: no hand-off, and the app stays on the CPU whose caches
  the last request warmed. An answer the client does not take at once is finished
  by a thread; a path whose handler waits on the network (the app's
  `waits_on_io`: live mode's /bind) always runs on a thread;
- a connection stays registered with the poller while a thread runs its request
  (the client waits for its answer, so no event comes), and the thread hands it
  back by appending it to a deque the poller drains every turn, not through
  gthread's pipe, futures and done callbacks. Input on a busy connection (a
  pipelined request, a close) makes the poller stop watching it until then, and
  the hand-back then wakes the poller through the pipe;
- a thread's first send of the answer and its hand-back happen under one lock, so
  a client that answers before a preempted thread has handed its connection back
  makes the poller wait for the lock rather than take that slow path;
- requests go to the thread that went idle last (RequestThreads);
- the heartbeat to the arbiter (a utime) and the parent check run once a second,
  not on every turn of the loop.

HTTP/1.1 only (podsift never enables gunicorn's HTTP/2). Relies on gunicorn's
gthread internals as of the version range pinned in pyproject.toml.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from gunicorn import config as gconfig
from gunicorn import http, util
from gunicorn import sock as gsock
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import Unreader
from gunicorn.workers import gthread

from extender.wire.fastpath import FastPath, send_all

DEFAULT_READ_TIMEOUT = 10.0
#: A thread's blocking write of an answer gives up after this long without progress.
WRITE_TIMEOUT = 10.0
#: After a last answer, how long the poller drains what the client still sends
#: before closing (so the kernel does not reset the answer away).
LINGER = 2.0
RECV_SIZE = 256 * 1024
#: The poller tells the arbiter it is alive (a utime of gunicorn's heartbeat file) and
#: checks its parent at most this often, not on every turn of its loop: two syscalls
#: and two releases of the GIL per request otherwise, against an arbiter timeout of
#: 30 s or more.
HEARTBEAT = 1.0
#: A plain request of at most this many bytes (head and body) runs in the poller
#: itself while no thread runs a request: kube-scheduler's NodeNames requests, up to
#: every name of ~8,000 nodes named like EC2's (~30 characters; ~15,000 with the
#: bench's short names), and any 5% window. Larger ones (full Node objects, pods with
#: thousands of host ports or tolerations) go to a thread, so they cannot hold up the
#: poller.
INLINE_MAX = 256 * 1024
#: Conn.plain before the poller has looked at the request's environ.
UNPARSED = object()


class BufferUnreader(Unreader):
    """gunicorn's parser reads from here: the bytes the poller received, then EOF."""

    def feed(self, data: bytes) -> None:
        self.unread(data)

    def chunk(self, size_hint: int | None = None) -> bytes:
        return b""  # everything there is was fed; a thread never waits on the socket


class Framing:
    """Where one request ends, found as its bytes arrive.

    One instance per request: it remembers how far it has looked (the head's end,
    the chunks passed), so a client that sends a byte at a time costs the poller
    a constant amount of work per byte, not a rescan of everything it sent.
    """

    MORE = 0  # not complete yet
    READY = 1  # complete (or malformed: the parser in the thread answers it)
    TRUNCATED = 2  # Content-Length over the body limit: the app answers 413 and we close
    CHUNKED_TOO_LARGE = 3  # a chunked body past the limit: the worker answers 413
    HEAD_TOO_LARGE = 4

    def __init__(self, max_body: int, head_limit: int) -> None:
        self.max_body = max_body
        self.head_limit = head_limit
        self.searched = 0  # the head's end is not before this offset
        self.chunked = False
        self.end = -1  # with a Content-Length: where the body ends; -1: head not seen yet
        self.pos = 0  # chunked: the next chunk-size line
        self.body = 0  # chunked: body bytes in the chunks passed
        self.expect = False  # the client waits for "100 Continue" before the body

    @staticmethod
    def scan(buf: bytearray, max_body: int, head_limit: int) -> tuple[int, int, bool]:
        """check() by a fresh instance."""
        return Framing(max_body, head_limit).check(buf)

    def check(self, buf: bytearray) -> tuple[int, int, bool]:
        """(state, end of the request in buf, client expects 100-continue); buf only
        grows between calls."""
        if self.end < 0:
            decided = self._head(buf)
            if decided is not None:
                return decided
        if self.chunked:
            return self._chunks(buf)
        if len(buf) >= self.end:
            return Framing.READY, self.end, False
        return Framing.MORE, 0, self.expect

    def _head(self, buf: bytearray) -> tuple[int, int, bool] | None:
        start = 0
        while buf.startswith(b"\r\n", start):  # empty lines before a request are ignored
            start += 2
        head_end = buf.find(b"\r\n\r\n", max(start, self.searched - 3))
        if head_end < 0:
            self.searched = len(buf)
            return (
                (Framing.HEAD_TOO_LARGE if len(buf) > self.head_limit else Framing.MORE),
                0,
                False,
            )
        body_start = head_end + 4
        lengths: list[bytes] = []
        encodings: list[bytes] = []
        for line in bytes(buf[start:head_end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                encodings.append(value.strip().lower())
            elif name == b"expect":
                self.expect = value.strip().lower() == b"100-continue"
        if encodings:
            last = b",".join(encodings).split(b",")[-1].strip()
            if lengths or last != b"chunked":
                return Framing.READY, body_start, False  # the parser refuses it
            self.chunked = True
            self.pos = body_start
            self.end = body_start
            return None
        if not lengths:
            return Framing.READY, body_start, False
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            return Framing.READY, body_start, False  # the parser refuses it
        length = int(lengths[0])
        if length > self.max_body:
            return Framing.TRUNCATED, len(buf), False
        self.end = body_start + length
        return None

    def _chunks(self, buf: bytearray) -> tuple[int, int, bool]:
        while True:
            line_end = buf.find(b"\r\n", self.pos)
            if line_end < 0:
                if len(buf) - self.pos > 4096:  # no chunk-size line is that long
                    return Framing.READY, len(buf), False
                return Framing.MORE, 0, self.expect
            size_text = bytes(buf[self.pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return Framing.READY, len(buf), False  # the parser refuses it
            if size == 0:
                if buf.startswith(b"\r\n", line_end + 2):
                    return Framing.READY, line_end + 4, False
                trailers_end = buf.find(b"\r\n\r\n", line_end + 2)
                if trailers_end < 0:
                    return Framing.MORE, 0, self.expect
                return Framing.READY, trailers_end + 4, False
            if self.body + size > self.max_body:
                return Framing.CHUNKED_TOO_LARGE, 0, False
            following = line_end + 2 + size + 2
            if following > len(buf):
                return Framing.MORE, 0, self.expect
            self.body += size
            self.pos = following


class Conn(gthread.TConn):
    """A connection: its socket, what arrived so far, and its place in the poller."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.initialized = True  # gthread's init() (a blocking handshake) is never used
        # what arrived and is not handed on yet: the bytes of one recv as they came (a
        # request that arrived whole goes to its thread uncopied), a bytearray once more
        # arrive behind them
        self.inbuf: bytes | bytearray = b""
        self.deadline = 0.0
        self.table: OrderedDict | None = None
        self.registered = False
        self.watching: tuple[int, Any] | None = None  # (events, callback) registered
        # a thread has the connection (busy) and, later, has handed it back (done);
        # `done` and `registered` change under the worker's hand-off lock
        self.busy = False
        self.done = False
        self.keep = False  # the thread's verdict: serve another request on it
        self.request = b""  # the request a thread is to run
        # its environ and close flag if the poller built them, None if it found the
        # request not plain, UNPARSED if it did not look
        self.plain: Any = UNPARSED
        # an answer the poller began and a thread is to finish (the client was not
        # reading), and whether to keep the connection after it
        self.rest: memoryview | None = None
        self.truncated = False
        self.continued = False
        self.parser = RequestParser(cfg, (), client)
        self.parser.unreader = BufferUnreader()
        self.framing: Framing | None = None  # the request arriving now


class PodsiftWorker(gthread.ThreadWorker):
    """gthread with the waiting moved into the poller (see the module docstring)."""

    max_body = 64 * 1024 * 1024
    read_timeout = DEFAULT_READ_TIMEOUT
    write_timeout = WRITE_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn_limit = max(self.cfg.worker_connections, self.cfg.threads + 1)
        # gthread stops accepting at worker_connections; this worker evicts instead
        self.worker_connections = sys.maxsize
        self.idle: OrderedDict[Conn, None] = OrderedDict()  # kept alive, nothing sent yet
        self.reading: OrderedDict[Conn, None] = OrderedDict()  # handshake or a partial request
        self.lingering: OrderedDict[Conn, None] = OrderedDict()  # closing, draining input
        self._ssl_context: ssl.SSLContext | None = None
        self._ssl_files: tuple = ()
        cfg = self.cfg
        fields = cfg.limit_request_fields or 32768
        field_size = cfg.limit_request_field_size or 65536
        self.head_limit = (cfg.limit_request_line or 65536) + fields * (field_size + 2) + 4
        self._next_heartbeat = 0.0
        self._parent_alive = True
        self._fast: FastPath | None = None
        self._plain = not cfg.is_ssl  # a property that looks at three settings
        self._handoff = threading.Lock()
        self._finished: deque[Conn] = deque()  # handed back by a thread, to take back
        self._threaded = 0  # connections given to a thread and not taken back yet
        self._io_paths: frozenset[str] = frozenset()  # the app's waits_on_io

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # paths whose handler waits on the network: never run in the poller
        self._io_paths = frozenset(getattr(self.wsgi, "waits_on_io", ()))

    def init_process(self) -> None:
        self._fast = self._fast_path()
        super().init_process()

    def _fast_path(self) -> FastPath | None:
        """The plain-request path (wire/fastpath.py), unless it would skip something
        gunicorn's path does here: an access log line or a request hook that runs,
        the debug line of the default pre_request hook."""
        cfg, log = self.cfg, self.log
        fast = FastPath(cfg)
        if not fast.enabled:
            return None
        if log.access_log_enabled and log.access_log.isEnabledFor(logging.INFO):
            return None
        if log.error_log.isEnabledFor(logging.DEBUG):
            return None
        if cfg.pre_request is not gconfig.PreRequest.default:
            return None
        if cfg.post_request is not gconfig.PostRequest.default:
            return None
        return fast

    def get_thread_pool(self) -> RequestThreads:
        return RequestThreads(self.cfg.threads, self._run_request)

    def notify(self) -> None:
        """gunicorn's heartbeat, at most once per HEARTBEAT (see there)."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT
            self._parent_alive = super().is_parent_alive()
            super().notify()

    def is_parent_alive(self) -> bool:
        """As checked by the last heartbeat (gthread asks on every turn of its loop)."""
        return self._parent_alive

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context, made again only when a certificate or key file has changed
        (a renewed certificate is served on new connections without a restart)."""
        cfg = self.cfg
        files = []
        for path in (cfg.certfile, cfg.keyfile, cfg.ca_certs):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            files.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
        key = tuple(files)
        if self._ssl_context is None or key != self._ssl_files:
            try:
                self._ssl_context = gsock.ssl_context(cfg)
            except (OSError, ssl.SSLError) as e:  # a half-written renewal, say
                if self._ssl_context is None:
                    raise
                self.log.warning("keeping the previous TLS certificate: %s", e)
            self._ssl_files = key
        return self._ssl_context

    # ---- the poller's side -------------------------------------------------------
    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        if self.nr_conns > self.conn_limit:
            self._evict_one()
        if self.cfg.is_ssl:
            try:
                context = self.ssl_context()
            except (OSError, ssl.SSLError) as e:
                self.log.warning("cannot load the TLS certificate: %s", e)
                self._close(conn)
                return
            conn.sock = context.wrap_socket(
                client_sock,
                server_side=True,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
            )
            self._enter(conn, self.reading, self.read_timeout)
            self._handshake(conn)
        else:
            self._enter(conn, self.reading, self.read_timeout)
            self._watch(conn, selectors.EVENT_READ, self._on_readable)

    def _evict_one(self) -> None:
        """Close the connection that has waited longest without a whole request."""
        for table in (self.lingering, self.idle, self.reading):
            if table:
                victim = next(iter(table))
                self._close(victim)
                return

    def _enter(self, conn: Conn, table: OrderedDict, timeout: float) -> None:
        if conn.table is not None:
            conn.table.pop(conn, None)
        conn.table = table
        conn.deadline = time.monotonic() + timeout
        table[conn] = None

    def _watch(self, conn: Conn, events: int, callback: Any) -> None:
        if conn.registered:
            if conn.watching == (events, callback):
                return  # watched as it is wanted already: no syscall
            self.poller.modify(conn.sock, events, partial(callback, conn))
        else:
            self.poller.register(conn.sock, events, partial(callback, conn))
            conn.registered = True
        conn.watching = (events, callback)

    def _unwatch(self, conn: Conn) -> None:
        if conn.registered:
            conn.registered = False
            conn.watching = None
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass

    def _close(self, conn: Conn) -> None:
        self._unwatch(conn)
        if conn.table is not None:
            conn.table.pop(conn, None)
            conn.table = None
        self.nr_conns -= 1
        conn.close()

    def _handshake(self, conn: Conn, _sock: Any = None) -> None:
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._watch(conn, selectors.EVENT_READ, self._handshake)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, selectors.EVENT_WRITE, self._handshake)
            return
        except (ssl.SSLError, OSError) as e:
            self.log.debug("TLS handshake failed: %s", e)
            self._close(conn)
            return
        self._watch(conn, selectors.EVENT_READ, self._on_readable)
        self._on_readable(conn)  # data may have come with the handshake's last record

    def _on_readable(self, conn: Conn, _sock: Any = None) -> None:
        if conn.busy:
            with self._handoff:
                if not conn.done:
                    # A thread has it: input before the answer (a pipelined request, or
                    # the client closing). Stop watching, so the poller does not spin on
                    # it; the hand-back watches it again and reads what came.
                    self._unwatch(conn)
                    return
            # handed back between this turn's select and now: take it back; the input
            # is still there, and the next turn's select reports it to whatever the
            # connection is watched by now (the next request, or the linger's drain)
            self._take_back()
            return
        sock = conn.sock
        received = False
        plain = self._plain
        for _ in range(16):  # a fair share of one loop turn; the rest stays readable
            try:
                data = sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            except ssl.SSLWantWriteError:
                break
            except (ssl.SSLError, OSError):
                self._close(conn)
                return
            if not data:
                self._close(conn)  # closed by the client; an incomplete request is dropped
                return
            if not conn.inbuf:
                conn.inbuf = data
            else:
                if not isinstance(conn.inbuf, bytearray):
                    conn.inbuf = bytearray(conn.inbuf)
                conn.inbuf += data
            received = True
            if plain and len(data) < RECV_SIZE:
                # the kernel had no more: asking again costs a syscall and an exception.
                # (A TLS socket may hold decrypted bytes the poller would not be told of.)
                break
        if received and conn.table is self.idle:
            self._enter(conn, self.reading, self.read_timeout)  # a request has begun
        self._try_dispatch(conn)

    def _try_dispatch(self, conn: Conn) -> None:
        """Run the requests buffered on conn: in the poller while they are plain and
        small and no thread runs one (`_serve_inline`), else by handing conn to a
        thread. A loop, not a recursion: a client may have pipelined many."""
        while conn.inbuf:
            if conn.framing is None:
                conn.framing = Framing(self.max_body, self.head_limit)
            state, end, expect = conn.framing.check(conn.inbuf)
            if state == Framing.MORE:
                if expect and not conn.continued:
                    conn.continued = True
                    self._send_nowait(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            if state == Framing.HEAD_TOO_LARGE:
                self._refuse(conn, "431 Request Header Fields Too Large", b"")
                return
            if state == Framing.CHUNKED_TOO_LARGE:
                message = f"request body exceeds the limit of {self.max_body} bytes"
                self._refuse(
                    conn, "413 Request Entity Too Large", orjson.dumps({"Error": message})
                )
                return
            conn.truncated = state == Framing.TRUNCATED
            conn.framing = None  # the next request starts afresh
            buf = conn.inbuf
            if end == len(buf):
                conn.request = bytes(buf)  # no copy when buf is the bytes of one recv
                conn.inbuf = b""
            else:
                conn.request = bytes(buf[:end])
                conn.inbuf = buf[end:]
            if conn.table is not None:
                conn.table.pop(conn, None)
                conn.table = None
            try:
                plain = self._inline_environ(conn)
                if plain is not None:
                    if not self._serve_inline(conn, *plain):
                        return  # closing, or a thread finishes its answer
                    continue
            except Exception:  # a bug: the poller (and the state it serves) must live on
                self.log.exception("closing a connection after an error serving its request")
                self._close(conn)
                return
            # It stays registered: a client waits for its answer, so no event comes, and
            # the hand-back then costs no syscall (see _on_readable for one that does).
            self._to_thread(conn)
            return

    def _to_thread(self, conn: Conn) -> None:
        conn.busy = True
        conn.done = False
        self._threaded += 1
        self.tpool.submit(conn)

    def _inline_environ(self, conn: Conn) -> tuple[dict, bool] | None:
        """The environ of conn's request if the poller is to run it itself, else None.

        Why run it here: handing a request to a thread costs a wake-up and a thread
        switch each way, and the app then runs on whichever CPU the thread wakes on,
        away from the caches the last request warmed. Measured with `podsift bench`,
        that hand-off was ~30% of a pod's time over HTTP with the default policies,
        against ~11% of the bare-WSGI calibration's (docs/PERFORMANCE.md, "One thread
        for a plain request"). The poller waits on nothing while it runs one: the request
        was read whole, its answer's first write does not block, and the rest of an
        answer the client does not read goes to a thread. What it gives up is
        overlap, so only a small plain request (INLINE_MAX) runs here, and only while
        no thread runs one (which could hold the state lock for long)."""
        fast = self._fast
        if (
            fast is None
            or self._threaded
            or conn.truncated
            or len(conn.request) > INLINE_MAX
        ):
            return None
        plain = fast.environ(conn.request, conn.sock, conn.client, conn.server)
        if plain is None or plain[0]["PATH_INFO"] in self._io_paths:
            # not plain (gunicorn's path), or waits on the network: a thread runs it,
            # with what was found here (live mode's every /bind: not parsed twice)
            conn.plain = plain
            return None
        return plain

    def _serve_inline(self, conn: Conn, environ: dict, close: bool) -> bool:
        """Run conn's plain request here and send its answer; whether conn is back in
        the poller's hands for its next request (False: closing, or a thread is
        finishing an answer the client was slow to take)."""
        served = self._serve_plain(conn, self._fast, environ, close)  # type: ignore[arg-type]
        keep, answer = served if isinstance(served, tuple) else (False, b"")
        if answer:
            sent = self._send_first(conn, answer)
            if 0 <= sent < len(answer):
                conn.rest = memoryview(answer)[sent:]
                conn.keep = keep
                self._to_thread(conn)  # it sends the rest and hands conn back
                return False
            keep = keep and sent >= 0
        conn.keep = keep
        conn.request = b""
        return self._resume(conn)

    def _send_nowait(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)  # a few bytes into an empty send buffer; best effort
        except (OSError, ssl.SSLError):
            pass

    def _refuse(self, conn: Conn, status: str, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._send_nowait(conn, head + body)
        self._linger(conn)

    def _linger(self, conn: Conn) -> None:
        """Half-close and drain what the client still sends, in the poller, then close."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self._close(conn)
            return
        conn.inbuf = b""
        self._enter(conn, self.lingering, LINGER)
        self._watch(conn, selectors.EVENT_READ, self._drain)

    def _drain(self, conn: Conn, _sock: Any = None) -> None:
        for _ in range(16):
            try:
                data = conn.sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError):
                break
            if not data:
                break
        else:
            return
        self._close(conn)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """gthread's, taking back the connections threads handed back first."""
        try:
            events = self.poller.select(timeout)
        except OSError as e:
            if e.errno != errno.EINTR:
                raise
            events = []
        self._take_back()
        for key, _ in events:
            key.data(key.fileobj)

    def _take_back(self) -> None:
        """Connections whose request a thread has answered (on the main thread)."""
        finished = self._finished
        while finished:
            conn = finished.popleft()
            self._threaded -= 1
            conn.busy = False
            conn.done = False
            conn.request = b""
            if self._resume(conn):
                try:
                    self._try_dispatch(conn)
                except Exception:
                    self.log.debug("closing a connection after its request", exc_info=True)
                    self._close(conn)

    def _resume(self, conn: Conn) -> bool:
        """After conn's request: wait for its next one, or linger and close it (not
        kept, or the worker is stopping). Whether it waits for a next one."""
        try:
            if not conn.keep or not self.alive:
                self._linger(conn)
                return False
            # bytes the parser did not use come first, then what arrived behind it
            leftover = conn.parser.unreader.take_buffered()
            if leftover:
                conn.inbuf = bytearray(leftover) + conn.inbuf
            conn.truncated = False
            conn.continued = False
            if conn.inbuf:
                self._enter(conn, self.reading, self.read_timeout)
            else:
                self._enter(conn, self.idle, self.cfg.keepalive)
            self._watch(conn, selectors.EVENT_READ, self._on_readable)
            return True
        except Exception:
            self.log.debug("closing a connection after its request", exc_info=True)
            self._close(conn)
            return False

    def murder_keepalived(self, force: bool = False) -> None:
        """Close every connection whose deadline has passed (all idle ones when stopping)."""
        now = time.monotonic()
        for table in (self.idle, self.reading, self.lingering):
            while table:
                conn = next(iter(table))
                if conn.deadline > now and not (force or (table is self.idle and not self.alive)):
                    break
                self._close(conn)

    def murder_pending(self) -> None:
        if not self.alive:
            self.murder_keepalived()

    # ---- a thread's side ---------------------------------------------------------
    def _run_request(self, conn: Conn) -> None:
        """Run conn's request, then hand conn back to the poller.

        A plain request's answer is sent here, and its first (non-blocking) send
        happens under the hand-off lock with the hand-back: a client that answers
        at once can send its next request before a thread that was preempted after
        its send has handed the connection back, and the poller, woken by it, would
        find the connection still busy, stop watching it and need the pipe to be
        woken again. Holding the lock, the poller waits those few microseconds
        instead. Only a send that cannot finish at once (a client not reading)
        goes on outside the lock, with its timeout.
        """
        rest = conn.rest
        if rest is not None:  # the poller ran the request; the client was slow to read
            conn.rest = None
            keep = self._send_rest(conn, rest) and conn.keep
            with self._handoff:
                self._hand_back(conn, keep)
            return
        answer = b""
        try:
            keep = self.handle(conn)
            if isinstance(keep, tuple):
                keep, answer = keep
        except BaseException:
            keep = False
        keep = bool(keep)
        if answer:
            with self._handoff:
                sent = self._send_first(conn, answer)
                if sent < 0 or sent == len(answer):
                    self._hand_back(conn, keep and sent >= 0)
                    return
            keep = self._send_rest(conn, memoryview(answer)[sent:]) and keep
        with self._handoff:
            self._hand_back(conn, keep)

    def _hand_back(self, conn: Conn, keep: bool) -> None:
        """Give conn back to the poller (under the hand-off lock)."""
        conn.keep = keep
        conn.done = True
        self._finished.append(conn)
        # Still watched, to be kept: the poller takes it back at its next turn (its
        # next request wakes it). Otherwise wake it now, through gthread's pipe.
        if not (keep and conn.registered and self.alive):
            self.method_queue.defer(_nothing)

    def _send_first(self, conn: Conn, data: bytes) -> int:
        """One non-blocking send: the bytes sent, -1 if the connection failed."""
        try:
            return conn.sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except (OSError, ssl.SSLError) as e:
            self.log.debug("socket error: %s", e)
            return -1

    def _send_rest(self, conn: Conn, rest: memoryview) -> bool:
        """The rest of an answer, waiting for the client to read; whether it went."""
        try:
            send_all(conn.sock, rest, self.write_timeout)
        except TimeoutError:
            self.log.debug("client stopped reading its answer: closing")
            return False
        except (OSError, ssl.SSLError) as e:
            self.log.debug("socket error: %s", e)
            return False
        return True

    def handle(self, conn: Conn) -> Any:
        """Parse the buffered request and run the app: whether to keep the connection,
        or for a plain request (keep, the answer to send)."""
        fast = self._fast
        plain, conn.plain = conn.plain, UNPARSED
        if plain is UNPARSED and fast is not None and not conn.truncated:
            plain = fast.environ(conn.request, conn.sock, conn.client, conn.server)
        if plain is not None and plain is not UNPARSED:
            assert fast is not None
            return self._serve_plain(conn, fast, *plain)
        sock = conn.sock
        conn.parser.unreader.feed(conn.request)
        sock.settimeout(self.write_timeout)  # gunicorn's Response writes with sendall
        try:
            return self._handle_parsed(conn)
        finally:
            try:
                sock.setblocking(False)
            except OSError:
                pass

    def _serve_plain(
        self, conn: Conn, fast: FastPath, environ: dict, close: bool
    ) -> tuple[bool, bytes] | bool:
        """Run the app on a plain request: (keep, its whole answer, to be sent in one
        write) (what gthread's handle_request does, less the objects; see
        wire/fastpath.py)."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        close = close or not self.alive or not self.cfg.keepalive
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            if started and exc_info is None:
                raise AssertionError("Response headers already set!")
            started[:] = (status, headers)
            return chunks.append  # WSGI's write()

        try:
            result = self.wsgi(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                raise AssertionError("the application did not call start_response")
            return not close, fast.answer(started[0], started[1], chunks, close)
        except Exception:
            self.log.exception(
                "Error handling request %s %s", environ["REQUEST_METHOD"], environ["RAW_URI"]
            )
            try:
                util.write_error(conn.sock, 500, "Internal Server Error", "")
            except (OSError, ssl.SSLError):
                pass
            return False

    def _handle_parsed(self, conn: Conn) -> Any:
        req = None
        try:
            req = next(conn.parser)
            if not req:
                return False
            if conn.continued:
                req._expected_100_continue = False  # the poller has sent it already
            if conn.truncated:
                # its body was not read: answer with "Connection: close", and close
                req.must_close = True
            keep = self.handle_request(req, conn)
            if not keep or conn.truncated:
                return False
            return bool(conn.parser.finish_body())  # from the buffer: never waits
        except (http.errors.NoMoreData, StopIteration):
            return False
        except TimeoutError:
            self.log.debug("client stopped reading its answer: closing")
            return False
        except ssl.SSLError as e:
            self.log.debug("TLS error: %s", e)
            return False
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.debug("socket error: %s", e)
            return False
        except Exception as e:
            self.handle_error(req, conn.sock, conn.client, e)
            return False


def _nothing() -> None:
    """What a thread asks the poller to run when it only needs it awake."""


class RequestThreads:
    """The threads that run requests (gthread's ThreadPoolExecutor made a Future, a
    done callback and a semaphore round per request; nothing here needs them).

    A request goes to the thread that went idle last, so sequential requests keep
    running on one warm thread, as they did under the executor; threads start as
    they are needed, up to `count`; a request that finds none idle waits in a
    backlog that a thread takes from before going idle.
    """

    def __init__(self, count: int, run: Callable[[Any], None]) -> None:
        self._run = run
        self._count = count
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []  # the last to go idle at the end
        self._backlog: deque[Any] = deque()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, conn: Any) -> None:
        with self._lock:
            if self._idle:
                slot = self._idle.pop()
                slot.conn = conn
                slot.wake.release()
            elif len(self._threads) < self._count:
                thread = threading.Thread(
                    target=self._loop, args=(conn,), name=f"podsift-request-{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(conn)

    def _loop(self, conn: Any) -> None:
        slot = _Slot()
        while conn is not None:
            self._run(conn)
            with self._lock:
                if self._backlog:
                    conn = self._backlog.popleft()
                    continue
                if self._closed:
                    return
                self._idle.append(slot)
            slot.wake.acquire()  # released by submit() or shutdown()
            conn = slot.conn

    def shutdown(self, wait: bool = True) -> None:
        """Each thread ends after the requests submitted before this (gthread: at exit)."""
        with self._lock:
            self._closed = True
            for slot in self._idle:
                slot.conn = None
                slot.wake.release()
            self._idle.clear()
        if wait:
            for thread in self._threads:
                thread.join()


class _Slot:
    """An idle thread's place: the request it is given and the lock it waits on."""

    __slots__ = ("conn", "wake")

    def __init__(self) -> None:
        self.conn: Any = None
        self.wake = threading.Lock()
        self.wake.acquire()


def worker_class(max_body: int, read_timeout: float = DEFAULT_READ_TIMEOUT) -> type:
    """A PodsiftWorker bound to this server's body limit and read timeout."""
    return type(
        "PodsiftWorker", (PodsiftWorker,), {"max_body": max_body, "read_timeout": read_timeout}
    )
