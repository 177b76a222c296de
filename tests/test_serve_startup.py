"""`podsift serve` checks its sources in the gunicorn master: one line and exit 2 for
what cannot work (not a worker traceback and "Worker failed to boot"), and a
runtime condition (an unreachable API server) is readiness 503, not an exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest
import yaml

from extender.testing import node, pod
from tests.server import ROOT, Server, free_port


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "extender", "serve", "--listen", f"127.0.0.1:{free_port()}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def one_line_error(out: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused start (exit 2)."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and lines[0].startswith("podsift: error: "), out.stderr
    return lines[0]


def write_list(path, items) -> str:
    path.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return str(path)


def with_namespace(obj: dict, namespace: str) -> dict:
    obj["metadata"]["namespace"] = namespace
    return obj


GOOD = [node("node-a"), node("node-b"), pod("db-0", cpu="1", node_name="node-a")]


@pytest.mark.parametrize(
    "bad, expected",
    [
        (
            with_namespace(pod("web-3", cpu="1.2.3", node_name="node-a"), "shop"),
            "pod shop/web-3: spec.containers[0].resources.requests.cpu: invalid quantity",
        ),
        (node("node-7", memory="lots"), "node node-7: status.allocatable.memory:"),
    ],
)
def test_a_snapshot_with_one_bad_object_is_refused_in_one_line(tmp_path, bad, expected):
    items = [*GOOD, *[pod(f"p-{i}", cpu="100m") for i in range(200)], bad]
    line = one_line_error(serve("--snapshot", write_list(tmp_path / "c.json", items)))
    assert expected in line and "#" not in line


def kubeconfig(path, cluster: dict, **top) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
        **top,
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("a: [1, 2\n", "neither valid JSON nor YAML"),
        ("[1, 2]\n", "not a kubeconfig"),
        ("", "not a kubeconfig"),
        ("apiVersion: v1\nkind: Config\nclusters: []\n", "Expected key current-context"),
    ],
)
def test_a_kubeconfig_that_does_not_load_is_refused_in_one_line(tmp_path, content, expected):
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    line = one_line_error(serve("--kubeconfig", str(path)))
    assert f"--kubeconfig {path}" in line and expected in line


def test_a_kubeconfig_without_a_server_or_with_a_missing_ca_is_refused(tmp_path):
    line = one_line_error(serve("--kubeconfig", kubeconfig(tmp_path / "a", {})))
    assert "no server URL" in line
    missing = tmp_path / "no-such-ca.crt"
    cfg = kubeconfig(
        tmp_path / "b", {"server": "https://h:6443", "certificate-authority": str(missing)}
    )
    line = one_line_error(serve("--kubeconfig", cfg))
    assert str(missing) in line


def test_in_cluster_outside_a_cluster_is_refused_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    line = one_line_error(serve("--in-cluster", env=env))
    assert "--in-cluster" in line and "service-account" in line


def test_an_unreachable_api_server_is_not_ready_and_retried_not_an_exit(tmp_path):
    closed = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    server = Server(
        "--kubeconfig", kubeconfig(tmp_path / "k", {"server": closed}), ready_path="/healthz"
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            status, body = server.get("/readyz")
            if b"list failed" in body or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 503 and b"list failed" in body
        status, res = server.post("/filter", {"Pod": pod("p"), "NodeNames": ["node-a"]})
        assert status == 200 and "not synced" in res["Error"]
        assert server.proc.poll() is None  # still serving, still retrying
    finally:
        server.stop()


def test_the_worker_serves_the_snapshot_the_master_loaded(tmp_path):
    items = [*GOOD, *[pod(f"p-{i}", cpu="100m") for i in range(200)]]
    server = Server("--snapshot", write_list(tmp_path / "c.json", items))
    try:
        status, res = server.post(
            "/filter", {"Pod": pod("new", cpu="3500m"), "NodeNames": ["node-a", "node-b"]}
        )
        assert status == 200 and res["NodeNames"] == ["node-b"]  # db-0 counts on node-a
        log = server.output()
        assert log.count("loaded snapshot") == 1
        assert "of 201 pods, 1 assigned and counted on their nodes, 200 pending" in log
    finally:
        server.stop()
