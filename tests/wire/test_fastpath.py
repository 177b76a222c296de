"""The plain-request path (extender/wire/fastpath.py) against gunicorn's own.

For every request it takes, the environ must be the one gunicorn's parser and
wsgi.create build from the same bytes; every request it does not take must be
left to gunicorn (None), and its answers must be framed as gunicorn frames them.
"""

from __future__ import annotations

import io
import socket
import threading

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from extender.wire.fastpath import FastPath, send_all
from extender.wire.worker import BufferUnreader

CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", 8888)
# entries that are objects made per request or per worker, compared separately
OBJECTS = {"wsgi.input", "wsgi.errors", "gunicorn.socket", "wsgi.early_hints", "wsgi.file_wrapper"}


def _request(target: str = "/filter", headers: str = "", body: bytes = b"{}") -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: podsift:8888\r\n{headers}"
    head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n"
    return head.encode() + body


def _gunicorn_environ(cfg: Config, data: bytes, sock: object) -> dict:
    parser = RequestParser(cfg, (), CLIENT)
    parser.unreader = BufferUnreader()
    parser.unreader.feed(data)
    req = next(parser)
    _, environ = wsgi.create(req, sock, CLIENT, SERVER, cfg)
    environ["wsgi.multithread"] = True  # as gthread's handle_request sets it
    return environ


PLAIN = [
    _request(),
    _request("/prioritize?x=1&y=%", body=b'{"Pod": {}}'),
    _request("/a/b;c=d/_e.f~g", headers="User-Agent: kube-scheduler/v1.34.4\r\n"),
    _request(headers="Accept-Encoding: gzip\r\nX-Empty:\r\nX-Spaced:  a  b \t\r\n"),
    _request(headers="Connection: keep-alive\r\n"),
    _request(headers="Connection: Close\r\n"),
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("data", PLAIN)
def test_the_environ_is_gunicorns(data):
    cfg = Config()
    sock = object()
    plain = FastPath(cfg).environ(data, sock, CLIENT, SERVER)
    assert plain is not None, data
    environ, close = plain
    expected = _gunicorn_environ(cfg, data, sock)
    assert {k: v for k, v in environ.items() if k not in OBJECTS} == {
        k: v for k, v in expected.items() if k not in OBJECTS
    }
    assert environ["wsgi.input"].read() == expected["wsgi.input"].read()
    assert environ["gunicorn.socket"] is sock
    assert close == (b"Connection: Close" in data)


UNUSUAL = [
    _request(headers="Transfer-Encoding: chunked\r\n"),
    _request(headers="Expect: 100-continue\r\n"),
    _request(headers="Upgrade: h2c\r\nConnection: Upgrade\r\n"),
    _request(headers="Connection: keep-alive, Upgrade\r\n"),
    _request(headers="X-Forwarded-Proto: https\r\n"),
    _request(headers="Forwarded: for=1.2.3.4\r\n"),
    _request(headers="X_Underscore: 1\r\n"),
    _request(headers="X-Twice: 1\r\nX-Twice: 2\r\n"),
    _request(headers="Host: second\r\n"),
    _request(headers="Content-Length: 2\r\n"),
    _request(headers="X-Latin: caf\xe9\r\n".encode("latin-1").decode("latin-1")),
    _request(headers="X-Folded: a\r\n b\r\n"),
    _request(headers="Bad Name: 1\r\n"),
    _request(headers="X-Nul: a\x00b\r\n"),
    _request("/%66ilter"),
    _request("//filter"),
    _request("*"),
    _request("/" + "a" * 5000),
    _request(headers="X-Long: " + "a" * 9000 + "\r\n"),
    _request(headers="".join(f"X-{i}: 1\r\n" for i in range(101))),
    _request().replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    _request().replace(b"POST", b"HEAD", 1),
    _request().replace(b"POST", b"PUT", 1),
    _request().replace(b"Content-Length: 2", b"Content-Length: +2", 1),
    b"\r\n" + _request(),
]


@pytest.mark.parametrize("data", UNUSUAL)
def test_anything_unusual_is_left_to_gunicorn(data):
    assert FastPath(Config()).environ(data, object(), CLIENT, SERVER) is None


def test_a_script_name_in_the_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("SCRIPT_NAME", "/api")
    assert not FastPath(Config()).enabled


def _split(answer: bytes) -> tuple[list[str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def test_an_answer_is_framed_as_gunicorn_frames_it():
    fast = FastPath(Config())
    lines, body = _split(
        fast.answer(
            "200 OK",
            [("Content-Type", "application/json"), ("Keep-Alive", "timeout=5")],
            [b'{"a":', b"1}"],
            close=False,
        )
    )
    assert lines[0] == "HTTP/1.1 200 OK"
    assert lines[1].startswith("Server: ")
    assert lines[2].startswith("Date: ") and lines[2].endswith(" GMT")
    assert lines[3:] == [
        "Connection: keep-alive",
        "Content-Type: application/json",
        "Content-Length: 7",  # added: the whole body is known
    ]  # the hop-by-hop Keep-Alive is dropped, as gunicorn drops it
    assert body == b'{"a":1}'


def test_an_answer_keeps_its_content_length_and_says_close():
    lines, body = _split(
        FastPath(Config()).answer("404 Not Found", [("Content-Length", "2")], [b"okay"], True)
    )
    assert "Connection: close" in lines
    assert lines.count("Content-Length: 2") == 1
    assert body == b"ok"  # never more than it announced


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_on_204_and_304(status):
    lines, body = _split(
        FastPath(Config()).answer(status, [("Content-Length", "3")], [b"abc"], False)
    )
    assert body == b""
    assert ("Content-Length: 3" in lines) == status.startswith("304")


@pytest.mark.parametrize(
    "status, headers, chunks",
    [
        ("OK", [], [b""]),
        ("200 OK", [("Bad Name", "x")], [b""]),
        ("200 OK", [("X-Split", "a\r\nInjected: 1")], [b""]),
        ("200 OK", [], ["text"]),
    ],
)
def test_a_bad_answer_raises(status, headers, chunks):
    with pytest.raises((ValueError, TypeError)):
        FastPath(Config()).answer(status, headers, chunks, False)


def test_send_all_waits_for_a_full_socket_and_gives_up_on_a_stuck_one():
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        with pytest.raises(TimeoutError):  # nobody reads: the buffers fill, then 0.2 s pass
            send_all(a, b"x" * (64 << 20), 0.2)
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        data = b"y" * (4 << 20)
        received = io.BytesIO()

        def read() -> None:
            while received.tell() < len(data):
                received.write(b.recv(1 << 20))

        reader = threading.Thread(target=read)
        reader.start()
        send_all(a, data, 5.0)
        reader.join(5.0)
        assert received.getvalue() == data
