"""The OpenAPI document: valid OpenAPI 3.0, complete, and true of a real server.

A real `podsift serve` (gunicorn, plain HTTP) on a small snapshot answers
every verb on its success and error paths; each answer's status must be
documented for that operation, its media type listed, and a JSON body must
validate against the documented schema.
"""

from __future__ import annotations

import copy
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.server import Server

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "extender" / "wire" / "openapi.json"
VERBS = ("filter", "prioritize", "bind", "preempt", "explain")
SERVICE_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(DOC_PATH.read_text())


# --------------------------------------------------------------------------------------
# The document itself


def test_document_is_valid_openapi_3_0(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    assert doc["openapi"].startswith("3.0.")
    validator.validate(doc)


def test_document_ships_in_the_package():
    shipped = resources.files("extender.wire").joinpath("openapi.json").read_bytes()
    assert json.loads(shipped) == json.loads(DOC_PATH.read_text())


def test_every_endpoint_is_documented(doc):
    assert set(doc["paths"]) == {f"/{v}" for v in VERBS} | set(SERVICE_PATHS)
    for verb in VERBS:
        operation = doc["paths"][f"/{verb}"]["post"]
        assert operation["operationId"] == verb
        assert operation["requestBody"]["required"] is True
        assert {"200", "400", "405", "413", "500"} <= set(operation["responses"])
    assert set(doc["paths"]["/readyz"]["get"]["responses"]) == {"200", "405", "503"}


def test_wire_names_are_the_go_field_names(doc):
    schemas = doc["components"]["schemas"]
    assert set(schemas["ExtenderArgs"]["properties"]) == {"Pod", "Nodes", "NodeNames"}
    assert set(schemas["ExtenderFilterResult"]["properties"]) == {
        "Nodes",
        "NodeNames",
        "FailedNodes",
        "FailedAndUnresolvableNodes",
        "Error",
    }
    assert set(schemas["ExtenderBindingArgs"]["properties"]) == {
        "PodName",
        "PodNamespace",
        "PodUID",
        "Node",
    }
    score = schemas["HostPriority"]["properties"]["Score"]
    assert (score["type"], score["minimum"], score["maximum"]) == ("integer", 0, 10)


# --------------------------------------------------------------------------------------
# OpenAPI 3.0 schema -> JSON Schema, for jsonschema


def to_json_schema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0's `nullable: true` as JSON Schema's `anyOf [..., null]`."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def validator_for(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    root = {"components": to_json_schema(doc["components"]), **to_json_schema(schema)}
    return jsonschema.Draft7Validator(root)


def test_schema_conversion_keeps_nullable_and_strictness(doc):
    filter_result = {"$ref": "#/components/schemas/ExtenderFilterResult"}
    ok = {
        "Nodes": None,
        "NodeNames": ["a"],
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }
    validator_for(doc, filter_result).validate(ok)
    with pytest.raises(jsonschema.ValidationError):
        validator_for(doc, filter_result).validate({**ok, "Extra": 1})
    with pytest.raises(jsonschema.ValidationError):
        validator_for(doc, {"$ref": "#/components/schemas/HostPriorityList"}).validate(
            [{"Host": "a", "Score": 11}]
        )


# --------------------------------------------------------------------------------------
# A real server


def node(name: str, unschedulable: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        },
    }


def pod(name: str, uid: str, node_name: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": "podsift",
        "containers": [
            {
                "name": "app",
                "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
            }
        ],
    }
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


NODES = [node("node-a"), node("node-b"), node("node-c", unschedulable=True)]
PENDING = pod("web-0", "uid-web-0")


def loadable_policy_config() -> dict[str, Any]:
    """The default profile, less any built-in policy that does not load yet."""
    from extender.engine.config import DEFAULT_FILTERS, DEFAULT_SCORES
    from extender.framework import policy as base

    def loads(name: str, kind: str) -> bool:
        try:
            base.create(name, None, kind)
        except Exception:
            return False
        return True

    return {
        "apiVersion": "podsift/v1",
        "kind": "PolicyConfiguration",
        "filters": [n for n in DEFAULT_FILTERS if loads(n, "filter")],
        "scores": [{"name": n, "weight": w} for n, w in DEFAULT_SCORES if loads(n, "score")],
    }


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Client]:
    tmp = tmp_path_factory.mktemp("openapi")
    snapshot = tmp / "cluster.json"
    snapshot.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [*NODES, pod("db-0", "uid-db-0", "node-a")],
            }
        )
    )
    config = tmp / "policy.yaml"
    config.write_text(yaml.safe_dump(loadable_policy_config()))
    server = Server(f"--snapshot={snapshot}", f"--config={config}")
    try:
        yield Client(server.port)
    finally:
        server.stop()


def check_documented(doc, method: str, path: str, status: int, content_type: str, body: bytes):
    """The answer's status, media type and body are what the document says."""
    path_item = doc["paths"][path]
    if method.lower() not in path_item and status == 405:
        (operation,) = path_item.values()  # the 405 is documented on the one operation
    else:
        operation = path_item[method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} is not documented"
    documented = responses[str(status)].get("content", {})
    media_type = content_type.split(";")[0].strip()
    assert media_type in documented, f"{method} {path} {status}: {media_type} not documented"
    if media_type == "application/json":
        decoded = json.loads(body)
        validator_for(doc, documented[media_type]["schema"]).validate(decoded)
        return decoded
    return body.decode()


ARGS_NAMES = {"Pod": PENDING, "NodeNames": ["node-a", "node-b", "node-c", "node-gone"]}
ARGS_NODES = {"Pod": PENDING, "Nodes": {"metadata": {}, "items": NODES}}

# (method, path, body or raw bytes, expected status)
CASES = [
    ("POST", "/filter", ARGS_NAMES, 200),
    ("POST", "/filter", ARGS_NODES, 200),
    ("POST", "/filter", {"NodeNames": ["node-a"]}, 200),  # no Pod: Error in a 200
    ("POST", "/filter", b"{not json", 400),
    ("GET", "/filter", None, 405),
    ("POST", "/prioritize", ARGS_NAMES, 200),
    ("POST", "/prioritize", ARGS_NODES, 200),
    ("POST", "/prioritize", {"NodeNames": ["node-a"]}, 400),
    ("POST", "/explain", ARGS_NAMES, 200),
    ("POST", "/explain", b"[]", 400),
    (
        "POST",
        "/preempt",
        {
            "Pod": PENDING,
            "NodeNameToMetaVictims": {"node-a": {"Pods": [{"UID": "uid-db-0"}]}},
        },
        200,
    ),
    ("POST", "/preempt", b"", 400),
    ("POST", "/bind", {"PodUID": "never-seen", "Node": "node-a"}, 200),  # Error in a 200
    ("POST", "/bind", b"nope", 400),
    ("GET", "/healthz", None, 200),
    ("GET", "/readyz", None, 200),
    ("GET", "/metrics", None, 200),
    ("GET", "/openapi.json", None, 200),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), CASES, ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES]
)
def test_real_answers_match_the_document(server, doc, method, path, body, status):
    raw = body if isinstance(body, bytes) else None
    got_status, content_type, payload = server.call(
        method, path, None if raw is not None else body, raw
    )
    assert got_status == status, payload
    check_documented(doc, method, path, got_status, content_type, payload)


def test_filter_names_unknown_nodes_and_keeps_the_form_sent(server, doc):
    _, ctype, body = server.call("POST", "/filter", ARGS_NAMES)
    answer = check_documented(doc, "POST", "/filter", 200, ctype, body)
    assert answer["Nodes"] is None
    assert "node-gone" in answer["FailedNodes"]
    assert set(answer["NodeNames"]) <= {"node-a", "node-b", "node-c"}
    _, ctype, body = server.call("POST", "/filter", ARGS_NODES)
    answer = check_documented(doc, "POST", "/filter", 200, ctype, body)
    assert answer["NodeNames"] is None
    assert answer["Nodes"]["items"]


def test_content_error_in_filter_is_reported_in_error(server, doc):
    _, ctype, body = server.call("POST", "/filter", {"NodeNames": ["node-a"]})
    answer = check_documented(doc, "POST", "/filter", 200, ctype, body)
    assert answer["Error"]


def test_prioritize_and_explain_cover_every_node_in_order(server, doc):
    _, ctype, body = server.call("POST", "/prioritize", ARGS_NAMES)
    hosts = check_documented(doc, "POST", "/prioritize", 200, ctype, body)
    assert [h["Host"] for h in hosts] == ARGS_NAMES["NodeNames"]
    _, ctype, body = server.call("POST", "/explain", ARGS_NAMES)
    explained = check_documented(doc, "POST", "/explain", 200, ctype, body)
    assert [n["name"] for n in explained["nodes"]] == ARGS_NAMES["NodeNames"]
    by_host = {h["Host"]: h["Score"] for h in hosts}
    for entry in explained["nodes"]:
        assert entry["score"] == by_host[entry["name"]]


def test_bind_after_filter_answers_a_binding_result(server, doc):
    another = pod("web-1", "uid-web-1")
    server.call("POST", "/filter", {"Pod": another, "NodeNames": ["node-b"]})
    _, ctype, body = server.call(
        "POST",
        "/bind",
        {"PodName": "web-1", "PodNamespace": "default", "PodUID": "uid-web-1", "Node": "node-b"},
    )
    answer = check_documented(doc, "POST", "/bind", 200, ctype, body)
    assert answer == {"Error": ""}


def test_served_document_is_the_packaged_file(server, doc):
    _, _, body = server.call("GET", "/openapi.json")
    assert json.loads(body) == doc


def test_unknown_path_answers_an_error_answer(server, doc):
    status, ctype, body = server.call("GET", "/no-such-thing")
    assert status == 404
    assert ctype.startswith("application/json")
    schema = {"$ref": "#/components/schemas/ErrorAnswer"}
    validator_for(doc, schema).validate(json.loads(body))


def test_requests_show_up_in_the_served_metrics(server):
    server.call("POST", "/filter", ARGS_NAMES)
    server.call("POST", "/filter", raw=b"{not json")
    _, _, body = server.call("GET", "/metrics")
    text = body.decode()
    assert 'podsift_requests_total{outcome="ok",verb="filter"}' in text
    assert 'podsift_requests_total{outcome="bad_request",verb="filter"}' in text
    assert 'podsift_request_duration_seconds_bucket{le="0.0001",verb="filter"}' in text
    assert "podsift_cache_nodes 3.0" in text


def test_sidecar_manifest_probes_pass_against_a_plain_server(server):
    """The sidecar's exec probes, pointed at this server's port, succeed."""
    manifest = ROOT / "manifests" / "sidecar" / "deployment.yaml"
    (deployment,) = list(yaml.safe_load_all(manifest.read_text()))
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (podsift,) = [c for c in containers if c["name"] == "podsift"]
    for probe in ("livenessProbe", "readinessProbe"):
        command = copy.deepcopy(podsift[probe]["exec"]["command"])
        assert "127.0.0.1:8888" in command[2]
        command[0] = sys.executable
        command[2] = command[2].replace("127.0.0.1:8888", f"127.0.0.1:{server.port}")
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
