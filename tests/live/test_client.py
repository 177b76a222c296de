"""KubeApi: configuration through the kubernetes package's loaders, TLS and auth,
error mapping, and the watch-stream line splitter."""

from __future__ import annotations

import datetime
import ipaddress

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.live.client import ApiError, KubeApi, WatchStream, load_api, status_error
from extender.model.errors import BindError
from tests.fakeapi import FakeApiServer, make_node, make_pod, write_kubeconfig


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the CA is the certificate itself)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    cert_file, key_file = d / "server.crt", d / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server(tls_files):
    srv = FakeApiServer()
    srv.start(tls=tls_files)
    srv.upsert_node(make_node("node-a"))
    srv.upsert_pod(make_pod("web", "uid-web"))
    yield srv
    srv.stop()


def test_kubeconfig_with_ca_file_and_token(tls_server, tls_files, tmp_path):
    cfg = write_kubeconfig(
        tmp_path / "config", tls_server.url, {"certificate-authority": tls_files[0]}
    )
    api = load_api(cfg)
    page = api.list("/api/v1/nodes", {"limit": 10})
    assert [n["metadata"]["name"] for n in page["items"]] == ["node-a"]
    assert tls_server.authorization[-1] == "Bearer s3cret"
    api.bind("default", "web", "uid-web", "node-a")
    assert tls_server.objects["pods"]["uid-web"]["spec"]["nodeName"] == "node-a"


def test_kubeconfig_with_inline_ca_data(tls_server, tls_files, tmp_path):
    import base64

    with open(tls_files[0], "rb") as f:
        data = base64.b64encode(f.read()).decode()
    cfg = write_kubeconfig(
        tmp_path / "config", tls_server.url, {"certificate-authority-data": data}
    )
    api = KubeApi.from_kubeconfig(cfg)
    assert api.list("/api/v1/pods")["items"][0]["metadata"]["uid"] == "uid-web"


def test_kubeconfig_with_an_untrusted_certificate_fails(tls_server, tmp_path):
    cfg = write_kubeconfig(tmp_path / "config", tls_server.url, {})
    api = KubeApi.from_kubeconfig(cfg)
    with pytest.raises(ApiError) as err:
        api.list("/api/v1/nodes")
    assert err.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_kubeconfig_insecure_skip_tls_verify(tls_server, tmp_path, recwarn, caplog):
    """Works, and says so once in the log rather than in a warning on every request."""
    caplog.set_level("WARNING", logger="podsift")
    cfg = write_kubeconfig(tmp_path / "config", tls_server.url, {"insecure-skip-tls-verify": True})
    api = KubeApi.from_kubeconfig(cfg)
    for _ in range(3):
        assert len(api.list("/api/v1/nodes")["items"]) == 1
    insecure = [w for w in recwarn if "Unverified HTTPS request" in str(w.message)]
    assert insecure == []
    notes = [r for r in caplog.records if "is not verified" in r.getMessage()]
    assert len(notes) == 1 and tls_server.url in notes[0].getMessage()


def test_in_cluster_configuration(tls_server, tls_files, tmp_path, monkeypatch):
    from kubernetes.config import incluster_config

    token = tmp_path / "token"
    token.write_text("pod-token")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", tls_files[0])
    host, port = tls_server.url.removeprefix("https://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)

    api = load_api(None)  # no file given: in-cluster configuration comes first
    assert api.host == tls_server.url
    assert len(api.list("/api/v1/nodes")["items"]) == 1
    assert tls_server.authorization[-1].lower() == "bearer pod-token"


def test_api_errors_carry_status_reason_and_message():
    body = orjson.dumps({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})
    err = status_error(410, body)
    assert err.gone and err.reason == "Expired" and str(err) == "HTTP 410 Expired: too old"
    assert str(status_error(502, b"<html>bad gateway</html>")) == (
        "HTTP 502: <html>bad gateway</html>"
    )
    assert not status_error(500, b"").gone


def test_bind_errors_name_the_pod_node_and_reason():
    srv = FakeApiServer()
    srv.start()
    try:
        api = KubeApi(srv.url)
        with pytest.raises(BindError) as err:
            api.bind("default", "ghost", "uid-ghost", "node-a")
        assert str(err.value) == (
            'binding pod default/ghost to node node-a: HTTP 404 NotFound: pods "ghost" not found'
        )
        srv.upsert_pod(make_pod("web", "uid-web", node="node-b"))
        with pytest.raises(
            BindError, match='Conflict: pod web is already assigned to node "node-b"'
        ):
            api.bind("default", "web", "uid-web", "node-a")
    finally:
        srv.stop()


# -- the watch-stream line splitter ---------------------------------------------------


class ChunkedResponse:
    """Stands in for urllib3's response: yields the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool = True):
        yield from self.chunks

    def shutdown(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


EVENTS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]),
            "object": st.fixed_dictionaries(
                {"metadata": st.fixed_dictionaries({"name": st.text(max_size=30)})}
            ),
        }
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(
    events=EVENTS,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    blank=st.integers(min_value=0, max_value=2),
)
def test_watch_stream_splits_events_across_any_chunk_boundaries(events, cuts, blank):
    raw = b"".join(b"\n" * blank + orjson.dumps(e) + b"\n" for e in events)  # blank lines too
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    chunks = [raw[a:b] for a, b in zip(points, points[1:], strict=False)]
    stream = WatchStream(ChunkedResponse(chunks))
    assert list(stream) == events
    assert stream.truncated is False


@settings(max_examples=100, deadline=None)
@given(events=EVENTS.filter(bool), cut=st.integers(min_value=1))
def test_watch_stream_drops_a_trailing_partial_event(events, cut):
    raw = b"".join(orjson.dumps(e) + b"\n" for e in events)
    last = orjson.dumps(events[-1]) + b"\n"
    keep = len(raw) - len(last) + 1 + cut % (len(last) - 1)  # inside the last line
    stream = WatchStream(ChunkedResponse([raw[:keep]]))
    assert list(stream) == events[:-1]
    assert stream.truncated is True


def test_the_bearer_token_is_read_once_a_second_and_rotation_is_seen(monkeypatch):
    """The kubeconfig loader's refresh hook costs ~0.2 ms a call (a new Configuration
    reading the proxy environment): podsift reuses a token for TOKEN_REUSE_S, then
    reads again, so a rotated token is used within that time."""
    from extender.live import client as client_module

    class Cfg:
        host = "https://127.0.0.1:1"
        ssl_ca_cert = cert_file = key_file = None
        verify_ssl = False
        proxy = None
        calls = 0
        value = "Bearer one"

        def auth_settings(self):
            Cfg.calls += 1
            return {"BearerToken": {"value": Cfg.value}}

    now = [1000.0]
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    api = client_module.KubeApi.from_configuration(Cfg())
    headers = [api._headers()["Authorization"] for _ in range(5)]
    assert headers == ["Bearer one"] * 5 and Cfg.calls == 1
    Cfg.value = "Bearer two"
    now[0] += client_module.TOKEN_REUSE_S / 2
    assert api._headers()["Authorization"] == "Bearer one"
    now[0] += client_module.TOKEN_REUSE_S
    assert api._headers()["Authorization"] == "Bearer two" and Cfg.calls == 2
