"""The plain request, served without gunicorn's Request and Response objects.

By the time a thread gets a request, the poller has framed it: the bytes are
exactly one request, head and body. For the request kube-scheduler sends (a
POST over HTTP/1.1 with a Content-Length, a handful of ordinary headers) the
thread builds the WSGI environ from those bytes itself, runs the app, and
writes status line, headers and body in one send: gunicorn's parser, environ
builder and Response (request-line and header parsing through a byte-stream
reader, a Response object, a header list formatted by pieces, a send for the
head and another for the body, a socket flipped to blocking with a timeout
and back) cost more CPU per request than a bare WSGI app itself.

Anything less plain goes to gunicorn's path, which answers it exactly as
before: another method or HTTP version, a path with a percent-escape, a
target outside the plain URL characters, a header name outside the token characters
or with an underscore, a header value outside printable ASCII, a header sent
twice, Transfer-Encoding, Expect, Upgrade, HTTP2-Settings, Forwarded or a
scheme header gunicorn interprets, a Connection other than keep-alive or
close, a request line or header over gunicorn's limits, a SCRIPT_NAME in the
environment. So a malformed or unusual request still gets gunicorn's own
refusal. The environ has gunicorn's keys and values for what it does take.
"""

from __future__ import annotations

import io
import os
import re
import select
import ssl
import time
from typing import Any

from gunicorn import SERVER, SERVER_SOFTWARE
from gunicorn.http.message import TOKEN_RE
from gunicorn.http.wsgi import HEADER_VALUE_RE, STATUS_RE, FileWrapper, WSGIErrorsWrapper
from gunicorn.util import hop_headers, http_date

REQUEST_LINE = re.compile(
    rb"(POST|GET) (/(?!/)[-!$&'()*+,./0-9:;=@A-Z_a-z~]*)"
    rb"(?:\?([-!$%&'()*+,./0-9:;=?@A-Z_a-z~]*))? HTTP/1\.1"
)
# a token without "_" (gunicorn drops or refuses such names), then a value of
# printable ASCII, with the optional white space around it
HEADER = re.compile(
    rb"([-!#$%&'*+.^`|~0-9A-Za-z]+):[ \t]*([\x21-\x7e](?:[ \t\x21-\x7e]*[\x21-\x7e])?)?[ \t]*"
)
# headers whose meaning gunicorn's path implements: a request with one goes there
UNUSUAL = frozenset(
    {
        "TRANSFER-ENCODING",
        "EXPECT",
        "UPGRADE",
        "HTTP2-SETTINGS",
        "FORWARDED",
        "X-FORWARDED-PROTO",
        "X-FORWARDED-PROTOCOL",
        "X-FORWARDED-SSL",
        "TE",
    }
)
# RFC 9110: no body on 1xx, 204, 304; no Content-Length on 1xx and 204
NO_BODY = frozenset({204, 304})


class FastPath:
    """Builds the environ of a plain request and the bytes of its answer."""

    def __init__(self, cfg: Any) -> None:
        self.unusual = UNUSUAL | {name.upper() for name in cfg.secure_scheme_headers or ()}
        self.line_limit = cfg.limit_request_line or 0
        self.field_limit = cfg.limit_request_field_size or 0
        self.fields_limit = cfg.limit_request_fields or 0
        # gunicorn takes SCRIPT_NAME from the environment; the fast path has none
        self.enabled = not os.environ.get("SCRIPT_NAME")
        self.base: dict[str, Any] = {
            "wsgi.errors": WSGIErrorsWrapper(cfg),
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": cfg.workers > 1,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "wsgi.url_scheme": "https" if cfg.is_ssl else "http",
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SCRIPT_NAME": "",
        }
        self._second = -1
        self._date = ""

    def environ(
        self, request: bytes, sock: Any, client: Any, server: Any
    ) -> tuple[dict, bool] | None:
        """(environ, the client asked to close) for a plain request, else None."""
        head_end = request.find(b"\r\n\r\n")
        if head_end < 0 or not isinstance(server, tuple):
            return None
        lines = request[:head_end].split(b"\r\n")
        first = lines[0]
        match = REQUEST_LINE.fullmatch(first)
        if match is None or (self.line_limit and len(first) > self.line_limit):
            return None
        if self.fields_limit and len(lines) - 1 > self.fields_limit:
            return None
        method, path, query = match.groups()
        env = self.base.copy()
        env["REQUEST_METHOD"] = method.decode()
        env["PATH_INFO"] = path.decode()
        env["QUERY_STRING"] = query.decode() if query is not None else ""
        env["RAW_URI"] = first[len(method) + 1 : -9].decode()
        env["SERVER_NAME"] = str(server[0])
        env["SERVER_PORT"] = str(server[1])
        if isinstance(client, tuple):
            env["REMOTE_ADDR"] = client[0]
            env["REMOTE_PORT"] = str(client[1])
        elif isinstance(client, bytes):
            env["REMOTE_ADDR"] = client.decode()
        else:
            env["REMOTE_ADDR"] = client
        close = False
        field_limit = self.field_limit
        unusual = self.unusual
        for line in lines[1:]:
            header = HEADER.fullmatch(line)
            if header is None or (field_limit and len(line) + 2 > field_limit):
                return None
            name = header.group(1).decode().upper()
            value = (header.group(2) or b"").decode()
            if name in unusual:
                return None
            if name == "CONTENT-LENGTH":
                if "CONTENT_LENGTH" in env or not value.isdigit():
                    return None
                env["CONTENT_LENGTH"] = value
                continue
            if name == "CONTENT-TYPE":
                if "CONTENT_TYPE" in env:
                    return None
                env["CONTENT_TYPE"] = value
                continue
            if name == "CONNECTION":
                option = value.lower()
                if option == "close":
                    close = True
                elif option != "keep-alive":
                    return None
            key = "HTTP_" + name.replace("-", "_")
            if key in env:
                return None  # repeated: gunicorn joins or refuses it
            env[key] = value
        env["wsgi.input"] = io.BytesIO(request[head_end + 4 :])
        env["gunicorn.socket"] = sock
        return env, close

    def date(self) -> str:
        """The Date header's value, formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._date = http_date(now)
            self._second = second
        return self._date

    def answer(self, status: str, headers: list, chunks: list[bytes], close: bool) -> bytes:
        """Status line, headers and body, as gunicorn's Response would send them for
        an answer of known length. Raises on a status or header gunicorn refuses."""
        if not isinstance(status, str) or not STATUS_RE.fullmatch(status):
            raise ValueError(f"Invalid status {status!r}")
        code = int(status[:3])
        no_length = code < 200 or code == 204
        body = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        if not isinstance(body, bytes):
            raise TypeError(f"{body!r} is not a byte")
        lines = [
            f"HTTP/1.1 {status}\r\nServer: {SERVER}\r\nDate: {self.date()}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n"
        ]
        length = None
        for name, value in headers:
            if not isinstance(name, str) or not TOKEN_RE.fullmatch(name):
                raise ValueError(f"Invalid response header name {name!r}")
            if not isinstance(value, str) or not HEADER_VALUE_RE.fullmatch(value):
                raise ValueError(f"Invalid response header value for {name!r}")
            value = value.strip(" \t")
            lname = name.lower()
            if lname == "content-length":
                if no_length:
                    continue
                length = int(value)
            elif lname in hop_headers:
                continue
            lines.append(f"{name}: {value}\r\n")
        if no_length or code in NO_BODY:
            body = b""
        elif length is None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif len(body) > length:
            body = body[:length]
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body


def send_all(sock: Any, data: bytes, timeout: float) -> None:
    """Write all of data to a non-blocking socket (TLS or not), waiting at most
    `timeout` seconds for the client to make room each time it has none."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError):
            _wait(sock, select.POLLOUT, timeout)
            continue
        except ssl.SSLWantReadError:
            _wait(sock, select.POLLIN, timeout)
            continue
        view = view[sent:]


def _wait(sock: Any, events: int, timeout: float) -> None:
    poll = select.poll()
    poll.register(sock, events)
    if not poll.poll(timeout * 1000):
        raise TimeoutError("client stopped reading its answer")
