"""TLS and mutual TLS of `podsift serve`, proven over real connections.

A CA, a server certificate (SAN 127.0.0.1) and client certificates are made
at test time; `podsift serve` (real gunicorn, started as
`python -m extender serve`) is run with --tls-cert/--tls-key and then with
--tls-client-ca. Both the accept and the refuse paths are exercised, and the
exec probe of the standalone manifest is run against the mTLS server.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.server import free_port, request_once, stop_process

ROOT = Path(__file__).resolve().parents[2]
EMPTY_POLICY = "apiVersion: podsift/v1\nkind: PolicyConfiguration\nfilters: []\nscores: []\n"
STARTUP_TIMEOUT = 60.0

# --------------------------------------------------------------------------------------
# Certificates


@dataclass
class Issued:
    cert: Path
    key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """A throwaway CA that issues leaf certificates into a directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}-ca.crt"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, usages: list, ips: list[str] = (), dns: list[str] = ()) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        alt_names = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        alt_names += [x509.DNSName(d) for d in dns]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(_key_pem(key))
        os.chmod(issued.key, 0o600)
        return issued


@dataclass
class Pki:
    ca: CertificateAuthority
    server: Issued
    client: Issued
    other_ca: CertificateAuthority
    stranger: Issued  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "podsift")
    other = CertificateAuthority(directory, "other")
    server = ca.issue(
        "server",
        # clientAuth too: the standalone manifest's probe presents the server's own cert.
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ips=["127.0.0.1"],
        dns=["localhost"],
    )
    client = ca.issue("scheduler", [ExtendedKeyUsageOID.CLIENT_AUTH])
    stranger = other.issue("stranger", [ExtendedKeyUsageOID.CLIENT_AUTH])
    return Pki(ca, server, client, other, stranger)


# --------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()


def client_context(
    pki: Pki, cert: Issued | None = None, ca: CertificateAuthority | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str((ca or pki.ca).path))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    return ctx


def get(port: int, path: str, ctx: ssl.SSLContext | None, timeout: float = 10) -> tuple[int, bytes]:
    return request_once(port, "GET", path, ctx=ctx, timeout=timeout)


def start_server(tmp_path: Path, tls_args: list[str], probe_ctx: ssl.SSLContext) -> Server:
    policy = tmp_path / "policy.yaml"
    policy.write_text(EMPTY_POLICY)
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "extender",
        "serve",
        f"--listen=127.0.0.1:{port}",
        f"--config={policy}",
        "--synthetic-nodes=20",
        "--log-format=json",
        *tls_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError("podsift serve exited:\n" + log_path.read_text())
        try:
            if get(port, "/healthz", probe_ctx, timeout=2)[0] == 200:
                return server
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise AssertionError("podsift serve did not answer /healthz:\n" + log_path.read_text())
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    stop_process(server.process)


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("tls"),
        [f"--tls-cert={pki.server.cert}", f"--tls-key={pki.server.key}"],
        client_context(pki),
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def mtls_server(pki, tmp_path_factory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("mtls"),
        [
            f"--tls-cert={pki.server.cert}",
            f"--tls-key={pki.server.key}",
            f"--tls-client-ca={pki.ca.path}",
        ],
        client_context(pki, pki.client),
    )
    yield server
    stop_server(server)


# A refused handshake surfaces as the TLS alert, or as a reset if the server
# closes before the alert is read; plain HTTP on a TLS port gets no HTTP answer.
HANDSHAKE_REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError)
NO_HTTP_ANSWER = (http.client.BadStatusLine, ConnectionResetError)


# --------------------------------------------------------------------------------------
# TLS


def test_https_answers_with_a_certificate_the_ca_verifies(tls_server, pki):
    status, body = get(tls_server.port, "/healthz", client_context(pki))
    assert status == 200
    status, _ = get(tls_server.port, "/readyz", client_context(pki))
    assert status == 200


def test_tls_server_needs_no_client_certificate(tls_server, pki):
    status, _ = get(tls_server.port, "/metrics", client_context(pki))
    assert status == 200


def test_plain_http_is_not_served_on_the_tls_port(tls_server):
    with pytest.raises(NO_HTTP_ANSWER):
        get(tls_server.port, "/healthz", None)


def test_server_certificate_is_not_trusted_by_another_ca(tls_server, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        get(tls_server.port, "/healthz", client_context(pki, ca=pki.other_ca))


def test_server_logs_are_json_lines(tls_server):
    lines = [line for line in tls_server.log_lines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
    # No per-request access log line for the requests the tests made.
    assert not any("GET /healthz" in line for line in lines)


# --------------------------------------------------------------------------------------
# Mutual TLS


def test_mtls_accepts_a_client_certificate_from_the_client_ca(mtls_server, pki):
    status, _ = get(mtls_server.port, "/healthz", client_context(pki, pki.client))
    assert status == 200
    status, body = get(mtls_server.port, "/readyz", client_context(pki, pki.client))
    assert status == 200


def test_mtls_refuses_a_client_without_certificate(mtls_server, pki):
    with pytest.raises(HANDSHAKE_REFUSED):
        get(mtls_server.port, "/healthz", client_context(pki))


def test_mtls_refuses_a_certificate_from_another_ca(mtls_server, pki):
    with pytest.raises(HANDSHAKE_REFUSED):
        get(mtls_server.port, "/healthz", client_context(pki, pki.stranger))


def test_mtls_refuses_plain_http(mtls_server):
    with pytest.raises(NO_HTTP_ANSWER):
        get(mtls_server.port, "/healthz", None)


def test_server_keeps_serving_after_refused_handshakes(mtls_server, pki):
    for _ in range(3):
        with pytest.raises(HANDSHAKE_REFUSED):
            get(mtls_server.port, "/healthz", client_context(pki))
    assert get(mtls_server.port, "/healthz", client_context(pki, pki.client))[0] == 200
    assert mtls_server.process.poll() is None


def probe_command(tmp_path: Path, pki: Pki, port: int, probe: str) -> list[str]:
    """The standalone manifest's exec probe, pointed at the test's files and port."""
    manifest = ROOT / "manifests" / "standalone" / "podsift-deployment.yaml"
    (deployment,) = list(yaml.safe_load_all(manifest.read_text()))
    (podsift,) = deployment["spec"]["template"]["spec"]["containers"]
    command = list(podsift[probe]["exec"]["command"])
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir(exist_ok=True)
    for name, source in (
        ("tls.crt", pki.server.cert),
        ("tls.key", pki.server.key),
        ("ca.crt", pki.ca.path),
    ):
        (tls_dir / name).write_bytes(source.read_bytes())
    assert "/etc/podsift/tls/" in command[2] and "127.0.0.1:8443" in command[2]
    command[2] = (
        command[2]
        .replace("/etc/podsift/tls/", f"{tls_dir}/")
        .replace("127.0.0.1:8443", f"127.0.0.1:{port}")
    )
    command[0] = sys.executable
    return command


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_standalone_manifest_probe_passes_mtls(mtls_server, pki, tmp_path, probe):
    command = probe_command(tmp_path, pki, mtls_server.port, probe)
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_standalone_manifest_probe_fails_when_nothing_listens(pki, tmp_path):
    command = probe_command(tmp_path, pki, free_port(), "readinessProbe")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


def test_renewed_certificate_is_served_on_new_connections(pki, tmp_path):
    """The worker makes the TLS context again when the files change: a renewed Secret
    needs no restart."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    server = start_server(tmp_path, [f"--tls-cert={cert}", f"--tls-key={key}"], client_context(pki))
    try:
        renewed = pki.ca.issue(
            "server-renewed", [ExtendedKeyUsageOID.SERVER_AUTH], ips=["127.0.0.1"]
        )
        cert.write_bytes(renewed.cert.read_bytes())
        key.write_bytes(renewed.key.read_bytes())
        ctx = client_context(pki)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        common_name = served.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert common_name == "server-renewed"
    finally:
        stop_server(server)
