"""The Binding's HTTP client (extender.live.httppost) through KubeApi.bind against the
fake API server, over HTTP and TLS; and its answer parser on any framing, any
header casing and any split of the bytes into reads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.live.client import KubeApi
from extender.live.httppost import (
    BadResponse,
    HttpPoster,
    NoAnswer,
    read_response,
)
from extender.model.errors import BindError
from tests.fakeapi import FakeApiServer, make_node, make_pod

BINDING = "/api/v1/namespaces/default/pods/{}/binding"


def add_pods(srv: FakeApiServer, n: int) -> list[str]:
    names = [f"p{i}" for i in range(n)]
    for name in names:
        srv.upsert_pod(make_pod(name, f"uid-{name}"))
    return names


def posts(srv: FakeApiServer, name: str) -> int:
    return srv.count("POST", BINDING.format(name))


def node_of(srv: FakeApiServer, name: str) -> str | None:
    return srv.objects["pods"][f"uid-{name}"]["spec"].get("nodeName")


@pytest.fixture
def srv():
    server = FakeApiServer()
    server.start()
    server.upsert_node(make_node("node-a"))
    yield server
    server.stop()


def test_binds_reuse_one_kept_alive_connection(srv):
    names = add_pods(srv, 5)
    api = KubeApi(srv.url, token_source=lambda: "Bearer t0k3n")
    for name in names:
        api.bind("default", name, f"uid-{name}", "node-a")
    assert all(node_of(srv, n) == "node-a" for n in names)
    assert api._poster is not None and api._poster.connections_made == 1
    assert srv.connections == 1
    assert srv.authorization[-5:] == ["Bearer t0k3n"] * 5


@pytest.mark.parametrize("chunked", [False, True])
def test_error_answers_carry_the_api_message_and_keep_the_connection(srv, chunked):
    srv.bind_chunked = chunked
    (name,) = add_pods(srv, 1)
    api = KubeApi(srv.url)
    with pytest.raises(BindError) as err:
        api.bind("default", "ghost", "uid-ghost", "node-a")
    assert str(err.value) == (
        'binding pod default/ghost to node node-a: HTTP 404 NotFound: pods "ghost" not found'
    )
    with pytest.raises(BindError, match="HTTP 409 Conflict: Precondition failed: UID in"):
        api.bind("default", name, "uid-other", "node-a")
    srv.bind_status = 422
    with pytest.raises(BindError) as err:
        api.bind("default", name, f"uid-{name}", "node-a")
    assert str(err.value) == (
        f"binding pod default/{name} to node node-a: HTTP 422 Invalid: injected binding failure"
    )
    srv.bind_status = None
    api.bind("default", name, f"uid-{name}", "node-a")
    assert node_of(srv, name) == "node-a"
    with pytest.raises(BindError, match=f"HTTP 409 Conflict: pod {name} is already assigned"):
        api.bind("default", name, f"uid-{name}", "node-a")
    assert api._poster.connections_made == 1  # every answer left the connection usable


def test_a_connection_the_server_closed_while_idle_is_not_used(srv):
    names = add_pods(srv, 3)
    api = KubeApi(srv.url)
    api.bind("default", names[0], f"uid-{names[0]}", "node-a")
    assert wait_until(lambda: srv.drop_idle() == 1)
    api.bind("default", names[1], f"uid-{names[1]}", "node-a")  # on a new connection
    api.bind("default", names[2], f"uid-{names[2]}", "node-a")
    assert [posts(srv, n) for n in names] == [1, 1, 1]  # none sent twice
    assert [node_of(srv, n) for n in names] == ["node-a"] * 3
    assert api._poster.connections_made == 2 and srv.connections == 2


def test_a_binding_the_server_hung_up_on_fails_and_is_not_sent_again(srv):
    names = add_pods(srv, 2)
    api = KubeApi(srv.url)
    srv.hang_up_next_bindings = 1
    with pytest.raises(BindError, match=f"binding pod default/{names[0]} .*API server unreachable"):
        api.bind("default", names[0], f"uid-{names[0]}", "node-a")
    assert posts(srv, names[0]) == 1  # it may have been applied: never retried
    api.bind("default", names[1], f"uid-{names[1]}", "node-a")
    assert posts(srv, names[1]) == 1


def test_read_timeout(srv):
    names = add_pods(srv, 2)
    api = KubeApi(srv.url, bind_timeout=0.2)
    srv.bind_delay = 0.6
    with pytest.raises(BindError, match=r"API server unreachable: no answer from .* within 0.2 s"):
        api.bind("default", names[0], f"uid-{names[0]}", "node-a")
    assert posts(srv, names[0]) == 1
    srv.bind_delay = 0.0
    api.bind("default", names[1], f"uid-{names[1]}", "node-a")  # a new connection
    assert node_of(srv, names[1]) == "node-a"
    assert api._poster.connections_made == 2


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    api = KubeApi(f"http://127.0.0.1:{port}")
    with pytest.raises(BindError) as err:
        api.bind("default", "web", "uid-web", "node-a")
    assert str(err.value).startswith(
        f"binding pod default/web to node node-a: API server unreachable: "
        f"cannot connect to http://127.0.0.1:{port}:"
    )


def test_concurrent_binds_share_a_bounded_pool(srv):
    names = add_pods(srv, 80)
    api = KubeApi(srv.url)

    def bind(name: str) -> None:
        api.bind("default", name, f"uid-{name}", "node-a")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bind, names))
    assert [posts(srv, n) for n in names] == [1] * len(names)
    assert all(node_of(srv, n) == "node-a" for n in names)
    assert api._poster.connections_made <= 8
    assert len(api._poster._idle) <= 8
    api.close()
    assert len(api._poster._idle) == 0


def test_through_a_proxy_binds_stay_on_urllib3(srv):
    """urllib3 speaks to an HTTP proxy (absolute-form requests, CONNECT for https);
    the fake API server serves absolute-form requests, so it stands in for one."""
    (name,) = add_pods(srv, 1)
    api = KubeApi(srv.url, proxy=srv.url)
    assert api._poster is None
    api.bind("default", name, f"uid-{name}", "node-a")
    assert node_of(srv, name) == "node-a"
    with pytest.raises(BindError, match="HTTP 409 Conflict: pod p0 is already assigned"):
        api.bind("default", name, f"uid-{name}", "node-a")


# ---- TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a certificate it signed for 127.0.0.1 and kube.test: (ca, cert, key)."""
    from bench.pki import make_tls

    return tuple(str(p) for p in make_tls(tmp_path_factory.mktemp("pki"), "kube", ["kube.test"]))


def test_tls_with_the_ca_file_and_a_client_certificate(pki):
    ca, cert, key = pki
    server = FakeApiServer()
    server.start(tls=(cert, key), client_ca=ca)
    try:
        names = add_pods(server, 3)
        api = KubeApi(server.url, ca_file=ca, cert_file=cert, key_file=key)
        for name in names[:2]:
            api.bind("default", name, f"uid-{name}", "node-a")
        assert api._poster.connections_made == 1
        assert wait_until(lambda: server.drop_idle() == 1)
        api.bind("default", names[2], f"uid-{names[2]}", "node-a")
        assert [posts(server, n) for n in names] == [1, 1, 1]
        assert api._poster.connections_made == 2

        anonymous = KubeApi(server.url, ca_file=ca)  # no client certificate
        with pytest.raises(BindError, match="API server unreachable"):
            anonymous.bind("default", "web", "uid-web", "node-a")
        assert posts(server, "web") == 0
    finally:
        server.stop()


def test_a_rotated_client_certificate_is_used_without_a_restart(pki, tmp_path):
    """The certificate files are read again for a new connection once they change
    on disk (urllib3 read them per connection; a long-lived podsift must too)."""
    import shutil

    from bench.pki import make_tls

    ca, cert, key = pki
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")
    cert_path, key_path = tmp_path / "client.crt", tmp_path / "client.key"
    shutil.copy(other[1], cert_path)  # signed by a CA the server does not trust
    shutil.copy(other[2], key_path)
    server = FakeApiServer()
    server.start(tls=(cert, key), client_ca=ca)
    try:
        names = add_pods(server, 2)
        api = KubeApi(server.url, ca_file=ca, cert_file=str(cert_path), key_file=str(key_path))
        with pytest.raises(BindError, match="API server unreachable"):
            api.bind("default", names[0], f"uid-{names[0]}", "node-a")
        shutil.copy(cert, cert_path)  # the rotation: now a certificate the server trusts
        shutil.copy(key, key_path)
        api.bind("default", names[1], f"uid-{names[1]}", "node-a")
        assert node_of(server, names[1]) == "node-a"
    finally:
        server.stop()


def test_tls_verification_and_insecure_skip(pki):
    _, cert, key = pki
    server = FakeApiServer()
    server.start(tls=(cert, key))
    try:
        names = add_pods(server, 1)
        untrusted = KubeApi(server.url)  # the system's CAs do not know this one
        with pytest.raises(BindError, match="unreachable: TLS with .*CERTIFICATE_VERIFY_FAILED"):
            untrusted.bind("default", names[0], f"uid-{names[0]}", "node-a")
        insecure = KubeApi(server.url, verify=False)
        insecure.bind("default", names[0], f"uid-{names[0]}", "node-a")
        assert node_of(server, names[0]) == "node-a"
    finally:
        server.stop()


def test_tls_server_name_is_the_name_sent_and_checked(pki):
    ca, cert, key = pki
    server = FakeApiServer()
    server.start(tls=(cert, key))
    seen: list[str | None] = []
    context = server._httpd.socket.context  # the listening SSLSocket's context
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)
    try:
        names = add_pods(server, 1)
        # the certificate is valid for 127.0.0.1 too: only tls_server_name is checked
        other = KubeApi(server.url, ca_file=ca, tls_server_name="other.test")
        with pytest.raises(BindError, match="Hostname mismatch|doesn't match"):
            other.bind("default", names[0], f"uid-{names[0]}", "node-a")
        assert seen[-1] == "other.test"
        by_name = KubeApi(server.url, ca_file=ca, tls_server_name="kube.test")
        by_name.bind("default", names[0], f"uid-{names[0]}", "node-a")
        assert node_of(server, names[0]) == "node-a"
        assert seen[-1] == "kube.test"
    finally:
        server.stop()


# ---- the answer parser -------------------------------------------------------------


def reads(data: bytes, cuts: list[int]) -> Callable[[int], bytes]:
    """A recv that returns `data` in the pieces `cuts` make, then EOF; never more
    than asked for."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in zip(points, points[1:], strict=False)]

    def recv(n: int) -> bytes:
        while pieces:
            piece = pieces.pop(0)
            if len(piece) > n:
                pieces.insert(0, piece[n:])
                piece = piece[:n]
            if piece:
                return piece
        return b""

    return recv


def random_case(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flips, strict=True))


OTHER_FIELDS = st.lists(
    st.tuples(
        st.sampled_from(["Audit-Id", "Cache-Control", "Content-Type", "Date", "X-Content-Length"]),
        st.text(alphabet="abcdefghij0123456789 ,;=-", max_size=30),
    ),
    max_size=4,
)


@st.composite
def answers(draw):
    """(raw answer bytes, status, body, reusable) of one well-formed HTTP/1.x answer."""
    status = draw(st.sampled_from([200, 201, 204, 404, 409, 422, 500]))
    body = b"" if status == 204 else draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    connection = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive, foo"]))
    fields = [(random_case(draw, n), v) for n, v in draw(OTHER_FIELDS)]
    if connection is not None:
        fields.append((random_case(draw, "connection"), connection))
    if status == 204:
        framing = "none"
    elif framing == "length":
        fields.append((random_case(draw, "content-length"), str(len(body))))
    elif framing == "chunked":
        fields.append((random_case(draw, "transfer-encoding"), random_case(draw, "chunked")))
    fields = draw(st.permutations(fields))
    head = f"{version} {status} Some Reason\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
    interim = "HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else ""
    raw = (interim + head + "\r\n").encode("latin-1")
    if framing == "chunked":
        sizes = draw(st.lists(st.integers(min_value=1, max_value=64), max_size=20))
        at = 0
        for size in sizes:
            piece = body[at : at + size]
            if not piece:
                break
            ext = draw(st.sampled_from(["", ";a=b", " ; name"]))
            raw += b"%s%s\r\n%s\r\n" % (
                random_case(draw, f"{len(piece):x}").encode(),
                ext.encode(),
                piece,
            )
            at += len(piece)
        if at < len(body):
            raw += b"%x\r\n%s\r\n" % (len(body) - at, body[at:])
        raw += b"0\r\n" + (b"Trailer-Field: x\r\n" if draw(st.booleans()) else b"") + b"\r\n"
    else:
        raw += body
    tokens = [t.strip().lower() for t in (connection or "").split(",")]
    if version == "HTTP/1.0":
        reusable = "keep-alive" in tokens and "close" not in tokens
    else:
        reusable = "close" not in tokens
    if framing == "close":
        reusable = False
    return raw, status, body, reusable


@settings(max_examples=400, deadline=None)
@given(answer=answers(), cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10))
def test_the_parser_reads_any_framing_casing_and_split(answer, cuts):
    raw, status, body, reusable = answer
    got = read_response(reads(raw, cuts))
    assert (got.status, got.body, got.reusable, got.truncated) == (status, body, reusable, False)


@settings(max_examples=100, deadline=None)
@given(answer=answers(), cut=st.integers(min_value=1))
def test_an_answer_cut_short_is_no_answer(answer, cut):
    raw, _, _, reusable = answer
    if not reusable:  # an answer delimited by the close is never short
        return
    short = raw[: cut % len(raw)]
    with pytest.raises(NoAnswer):
        read_response(reads(short, []))


def test_bytes_after_the_answer_make_the_connection_unusable():
    raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n"
    got = read_response(reads(raw, []))
    assert got.body == b"{}" and not got.reusable


def test_a_body_longer_than_max_body_is_truncated_not_drained():
    body = b"x" * 100_000
    raw = b"HTTP/1.1 409 Conflict\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    got = read_response(reads(raw, [1000, 40_000]))
    assert got.body == body and got.reusable  # longer than one read: whole
    got = read_response(reads(raw, [1000]), max_body=5000)
    assert got.body == body[:5000] and got.truncated and not got.reusable
    chunked = (
        b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"1000\r\n" + b"y" * 4096 + b"\r\n") * 3
    )
    got = read_response(reads(chunked, []), max_body=5000)
    assert got.body == b"y" * 5000 and got.truncated and not got.reusable


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2x1 Created\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
)
def test_garbage_is_a_bad_response(raw):
    with pytest.raises(BadResponse):
        read_response(reads(raw, []))


def test_the_request_carries_the_host_prefix_headers_and_body():
    """What goes on the wire, read by a raw socket server: one request, one write."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        data = b""
        while not data.endswith(b"{}"):
            data += conn.recv(65536)
        got.append(data)
        conn.sendall(b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    poster = HttpPoster(f"http://127.0.0.1:{port}/k8s/", headers={"Accept": "application/json"})
    answer = poster.post("/api/v1/x", b"{}", 5.0, {"Authorization": "Bearer t"})
    thread.join(5)
    listener.close()
    assert (answer.status, answer.reusable) == (201, False)
    assert got[0] == (
        b"POST /k8s/api/v1/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: application/json\r\n"
        b"Authorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}" % port
    )
    assert len(poster._idle) == 0  # Connection: close
    with pytest.raises(ValueError, match="line break"):
        poster.post("/x", b"", 1.0, {"Authorization": "Bearer t\r\nX-Evil: 1"})


def wait_until(predicate, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
