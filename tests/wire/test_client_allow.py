"""Who may call: --tls-client-allow over real mutual TLS.

Certificates are made at test time (tests/wire/test_tls.py's CA). The allowed
identity calls every verb; another certificate from the same CA completes the
handshake but gets 403 with a JSON Error on the verbs and /explain, while the
probes and /metrics stay open to it; no certificate fails the handshake.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from extender.wire.access import peer_identities
from tests.server import request_once
from tests.wire.test_tls import (
    HANDSHAKE_REFUSED,
    ROOT,
    CertificateAuthority,
    client_context,
    get,
    start_server,
    stop_server,
)

VERBS = ("/filter", "/prioritize", "/bind", "/preempt", "/explain")
CLIENT_AUTH = [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "podsift")
    return {
        "ca": ca,
        "server": ca.issue(
            "server",
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            ips=["127.0.0.1"],
        ),
        "scheduler": ca.issue("kube-scheduler", CLIENT_AUTH),
        "by-dns": ca.issue("some-cn", CLIENT_AUTH, dns=["scheduler.kube-system.svc"]),
        "intruder": ca.issue("intruder", CLIENT_AUTH, dns=["intruder.default.svc"]),
    }


@pytest.fixture(scope="module")
def server(pki, tmp_path_factory) -> Iterator:
    srv = start_server(
        tmp_path_factory.mktemp("allow"),
        [
            f"--tls-cert={pki['server'].cert}",
            f"--tls-key={pki['server'].key}",
            f"--tls-client-ca={pki['ca'].path}",
            "--tls-client-allow=kube-scheduler",
            "--tls-client-allow=scheduler.kube-system.svc",
        ],
        client_context_for(pki, "scheduler"),
    )
    yield srv
    stop_server(srv)


def client_context_for(pki, name: str | None):
    return client_context(None, pki[name] if name else None, ca=pki["ca"])


def post(port: int, path: str, ctx, body: bytes = b"{}") -> tuple[int, bytes]:
    return request_once(port, "POST", path, body, ctx=ctx)


@pytest.mark.parametrize("who", ["scheduler", "by-dns"])
def test_an_allowed_identity_calls_every_verb(server, pki, who):
    ctx = client_context_for(pki, who)
    for path in VERBS:
        status, body = post(server.port, path, ctx)
        assert status != 403, (path, body)
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": {}}
    status, body = post(
        server.port, "/filter", ctx, orjson.dumps({"Pod": pod, "NodeNames": ["node-0"]})
    )
    assert status == 200 and orjson.loads(body)["Error"] == ""


def test_another_identity_of_the_same_ca_gets_403_before_any_verb_runs(server, pki):
    ctx = client_context_for(pki, "intruder")
    for path in VERBS:
        status, body = post(server.port, path, ctx)
        assert status == 403, path
        error = orjson.loads(body)["Error"]
        assert "'intruder'" in error and path in error and "--tls-client-allow" in error


def test_probes_and_metrics_stay_open_to_any_verified_client(server, pki):
    ctx = client_context_for(pki, "intruder")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert get(server.port, path, ctx)[0] == 200, path


def test_no_client_certificate_fails_the_handshake(server, pki):
    with pytest.raises(HANDSHAKE_REFUSED):
        post(server.port, "/filter", client_context_for(pki, None))


def test_allow_list_needs_mutual_tls():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "extender",
            "serve",
            "--synthetic-nodes=5",
            "--tls-client-allow=kube-scheduler",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--tls-client-allow needs --tls-client-ca" in result.stderr


def test_peer_identities_are_subject_cns_then_dns_and_uri_sans():
    cert = {
        "subject": ((("organizationName", "o"),), (("commonName", "kube-scheduler"),)),
        "subjectAltName": (
            ("DNS", "scheduler.kube-system.svc"),
            ("IP Address", "10.0.0.1"),
            ("URI", "spiffe://cluster.local/ns/kube-system/sa/kube-scheduler"),
        ),
    }
    assert peer_identities(cert) == (
        "kube-scheduler",
        "scheduler.kube-system.svc",
        "spiffe://cluster.local/ns/kube-system/sa/kube-scheduler",
    )
    assert peer_identities(None) == peer_identities({}) == ()
