"""The bench's calibration server (bench/calibrate.py) through real gunicorn: with
an API server named it POSTs each /bind's Binding (the kube-scheduler bench's
`calibration-bind` run), without one it answers /bind and touches nothing."""

from __future__ import annotations

import http.client

import orjson
import pytest

from bench import servers
from tests.fakeapi import FakeApiServer, make_node, make_pod


@pytest.fixture
def api():
    srv = FakeApiServer()
    srv.start()
    srv.upsert_node(make_node("node-a"))
    for i in range(3):
        srv.upsert_pod(make_pod(f"p{i}", f"uid-p{i}"))
    yield srv
    srv.stop()


def _bind(port: int, name: str, uid: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"PodName": name, "PodNamespace": "default", "PodUID": uid, "Node": "node-a"}
    conn.request("POST", "/bind", orjson.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    answer = orjson.loads(response.read())
    conn.close()
    return answer


def _calibration(tmp_path, env: dict[str, str] | None) -> servers.ServerProcess:
    port = servers.free_port()
    return servers.ServerProcess(
        servers.calibration_command(port, 2),
        port,
        str(tmp_path / "calibration.log"),
        "calibration",
        env=env,
    )


def test_with_an_api_server_bind_posts_the_binding(api, tmp_path):
    env = {"PODSIFT_CALIBRATION_API": api.url, "PODSIFT_CALIBRATION_TOKEN": "t0k3n"}
    with _calibration(tmp_path, env) as server:
        assert _bind(server.port, "p0", "uid-p0") == {"Error": ""}
        assert _bind(server.port, "p1", "uid-p1") == {"Error": ""}
        # the UID is the Binding's precondition, as podsift sends it
        refused = _bind(server.port, "p2", "uid-other")
    assert api.objects["pods"]["uid-p0"]["spec"]["nodeName"] == "node-a"
    assert api.objects["pods"]["uid-p1"]["spec"]["nodeName"] == "node-a"
    assert not api.objects["pods"]["uid-p2"]["spec"].get("nodeName")
    assert "HTTP 409" in refused["Error"]
    assert "Bearer t0k3n" in api.authorization


def test_without_one_bind_answers_and_posts_nothing(api, tmp_path):
    with _calibration(tmp_path, None) as server:
        assert _bind(server.port, "p0", "uid-p0") == {"Error": ""}
    assert not api.objects["pods"]["uid-p0"]["spec"].get("nodeName")
    assert api.count("POST", "/api/v1/namespaces/default/pods/p0/binding") == 0
