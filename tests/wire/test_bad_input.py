"""Malformed input for every verb: a precise answer, and the cache unchanged.

Checked twice: through the Service (comparing the cache itself before and after)
and through a real gunicorn server (status codes and bodies on the wire).
"""

from __future__ import annotations

import copy

import orjson
import pytest

from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.wire.service import Service
from tests.helpers import make_state, node, pod
from tests.server import Server

NODES = [node("a", cpu="2"), node("b", cpu="4")]
RUNNING = [pod("r", cpu="1", node_name="a")]
GOOD_POD = pod("new", cpu="500m")
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
# a preferred term that does not parse: kube-scheduler's NodeAffinity PreScore
# fails on it, so scoring (not filtering) answers an error naming it
BAD_PREFERENCE = pod(
    "pref",
    cpu="500m",
    affinity={
        "nodeAffinity": {
            PREFERRED: [
                {
                    "weight": 1,
                    "preference": {
                        "matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["v2"]}]
                    },
                }
            ]
        }
    },
)
BAD_PREFERENCE_FIELD = f"{PREFERRED}[0].preference.matchExpressions[0].values[0]"

# (verb, body object or raw bytes, expected substring of the message)
CONTENT_ERRORS = [
    ("filter", {"NodeNames": ["a"]}, "Pod: is required"),
    ("filter", {"Pod": "x", "NodeNames": ["a"]}, "Pod: is required"),
    ("filter", {"Pod": GOOD_POD}, "one of NodeNames or Nodes is required"),
    ("filter", {"Pod": GOOD_POD, "NodeNames": "a"}, "NodeNames: must be a list"),
    ("filter", {"Pod": GOOD_POD, "NodeNames": [1]}, "NodeNames: must be a list"),
    ("filter", {"Pod": GOOD_POD, "Nodes": {"items": "x"}}, "Nodes: must be a v1.NodeList"),
    ("filter", {"Pod": GOOD_POD, "Nodes": {"items": [{"metadata": {}}]}}, "Nodes.items[0]"),
    ("filter", {"Pod": pod("bad", cpu="1.2.3"), "NodeNames": ["a"]}, "requests.cpu"),
    ("filter", [1, 2], "must be a JSON object"),
    ("prioritize", {"Pod": GOOD_POD}, "one of NodeNames or Nodes is required"),
    ("prioritize", {"Pod": {"spec": {"containers": 5}}, "NodeNames": ["a"]}, "containers"),
    ("prioritize", {"Pod": BAD_PREFERENCE, "NodeNames": ["a", "b"]}, BAD_PREFERENCE_FIELD),
    ("explain", {"NodeNames": ["a"]}, "Pod: is required"),
    ("explain", {"Pod": BAD_PREFERENCE, "NodeNames": ["a", "b"]}, BAD_PREFERENCE_FIELD),
    ("bind", {"PodUID": "uid-new"}, "Node: must be a non-empty string"),
    ("bind", {"Node": "a"}, "PodUID: must be a non-empty string"),
    ("bind", {"PodUID": 5, "Node": "a"}, "PodUID"),
    ("preempt", {"Pod": GOOD_POD, "NodeNameToMetaVictims": []}, "NodeNameToMetaVictims"),
    *[
        ("preempt", {"Pod": GOOD_POD, key: {"a": victims}}, message)
        for key, victims, message in [
            # a victim that is not an object (issue 9, item 6: these were HTTP 500)
            (
                "NodeNameToMetaVictims",
                {"Pods": ["uid-r"]},
                "NodeNameToMetaVictims.a.Pods[0]: "
                'must be a MetaPod object {"UID": "..."}, got a string',
            ),
            (
                "NodeNameToMetaVictims",
                {"Pods": [None]},
                "NodeNameToMetaVictims.a.Pods[0]: must be a MetaPod object",
            ),
            ("NodeNameToMetaVictims", {"Pods": [[]]}, "a.Pods[0]: must be a MetaPod object"),
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": 7}]},
                "NodeNameToMetaVictims.a.Pods[0].UID: must be a non-empty string, got the number 7",
            ),
            ("NodeNameToMetaVictims", {"Pods": [{}]}, "a.Pods[0].UID: must be a non-empty"),
            (
                "NodeNameToVictims",
                {"Pods": ["uid-r"]},
                "NodeNameToVictims.a.Pods[0]: must be a v1.Pod object, got a string",
            ),
            (
                "NodeNameToVictims",
                {"Pods": [{"metadata": ["uid"]}]},
                "NodeNameToVictims.a.Pods[0].metadata: must be an object",
            ),
            (
                "NodeNameToVictims",
                {"Pods": [{"metadata": {"uid": ""}}]},
                "NodeNameToVictims.a.Pods[0].metadata.uid: must be a non-empty string",
            ),
            ("NodeNameToVictims", {"Pods": [{"UID": "uid-r"}]}, "Pods[0].metadata: must be"),
            # a falsy non-list was taken for an empty list
            (
                "NodeNameToMetaVictims",
                {"Pods": 0},
                "NodeNameToMetaVictims.a.Pods: must be a list, got the number 0",
            ),
            ("NodeNameToMetaVictims", {"Pods": ""}, "a.Pods: must be a list"),
            ("NodeNameToMetaVictims", {"Pods": {"UID": "uid-r"}}, "a.Pods: must be a list"),
            ("NodeNameToMetaVictims", None, "NodeNameToMetaVictims.a: must be an object"),
            ("NodeNameToVictims", [], "NodeNameToVictims.a: must be an object"),
            # NumPDBViolations is Go's int64 (issue 9, item 7: true and -1 were echoed)
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": "uid-r"}], "NumPDBViolations": True},
                "NodeNameToMetaVictims.a.NumPDBViolations: must be an integer, got a boolean",
            ),
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": "uid-r"}], "NumPDBViolations": False},
                "a.NumPDBViolations: must be an integer, got a boolean",
            ),
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": "uid-r"}], "NumPDBViolations": -1},
                "a.NumPDBViolations: must be between 0 and 9223372036854775807, got -1",
            ),
            (
                "NodeNameToVictims",
                {"Pods": [RUNNING[0]], "NumPDBViolations": 2**63},
                "NodeNameToVictims.a.NumPDBViolations: must be between 0 and",
            ),
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": "uid-r"}], "NumPDBViolations": 1.5},
                "a.NumPDBViolations: must be an integer, got the number 1.5",
            ),
            (
                "NodeNameToMetaVictims",
                {"Pods": [{"UID": "uid-r"}], "NumPDBViolations": "1"},
                "a.NumPDBViolations: must be an integer, got a string",
            ),
        ]
    ],
    (
        "preempt",
        {
            "Pod": GOOD_POD,
            "NodeNameToMetaVictims": {"a": {"Pods": [{"UID": "uid-r"}]}},
            "NodeNameToVictims": {"a": {"Pods": [RUNNING[0]]}},
        },
        "NodeNameToMetaVictims and NodeNameToVictims are both given",
    ),
    ("preempt", {"NodeNameToMetaVictims": {}}, "Pod: is required"),
]


def fresh_service() -> Service:
    return Service(make_state(NODES, copy.deepcopy(RUNNING)), Engine(default_configuration()))


@pytest.mark.parametrize("verb, args, message", CONTENT_ERRORS)
def test_service_rejects_and_changes_nothing(verb, args, message):
    from extender.model.errors import InvalidInput

    service = fresh_service()
    before = service.state.truth()
    with pytest.raises(InvalidInput) as err:
        getattr(service, verb)(args)
    assert message in str(err.value)
    assert service.state.truth() == before


def test_bind_errors_come_back_in_error_and_change_nothing():
    service = fresh_service()
    before = service.state.truth()
    res = service.bind({"PodUID": "never-seen", "Node": "a", "PodName": "x", "PodNamespace": "d"})
    assert "podsift needs its spec" in res["Error"]
    big = pod("big", cpu="3")
    service.filter({"Pod": big, "NodeNames": ["a", "b"]})
    res = service.bind({"PodUID": "uid-big", "Node": "a"})
    assert "no longer fits on a: Insufficient cpu" in res["Error"]
    res = service.bind({"PodUID": "uid-big", "Node": "nowhere"})
    assert "not known" in res["Error"]
    assert service.state.truth() == before
    assert service.bind({"PodUID": "uid-big", "Node": "b"}) == {"Error": ""}
    assert service.state.truth()["pods"]["uid-big"] == "b"


def test_unknown_nodes_fail_only_themselves():
    service = fresh_service()
    res = service.filter({"Pod": GOOD_POD, "NodeNames": ["a", "ghost", "b"]})
    assert res["NodeNames"] == ["a", "b"]
    assert "not found in podsift's cache" in res["FailedNodes"]["ghost"]
    names, scores = service.prioritize({"Pod": GOOD_POD, "NodeNames": ["ghost", "b"]})
    assert names == ["ghost", "b"] and scores[0] == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "s.json"
    path.write_bytes(orjson.dumps({"kind": "List", "items": NODES + RUNNING}))
    s = Server("--snapshot", str(path), "--max-body", "100000")
    yield s
    s.stop()


def _fingerprint(server: Server) -> object:
    status, res = server.post("/explain", {"Pod": GOOD_POD, "NodeNames": ["a", "b"]})
    assert status == 200
    return res


@pytest.mark.parametrize("verb, args, message", CONTENT_ERRORS)
def test_http_answers_precisely(server, verb, args, message):
    before = _fingerprint(server)
    status, res = server.post_raw(f"/{verb}", orjson.dumps(args))
    body = orjson.loads(res)
    if isinstance(args, list):
        assert status == 400
    elif verb in ("filter", "bind"):
        assert status == 200  # the protocol's Error field carries the message
    else:
        assert status == 400
    assert message in body["Error"]
    assert "Traceback" not in body["Error"]
    assert _fingerprint(server) == before


@pytest.mark.parametrize(
    "verb, raw, status, message",
    [
        ("filter", b"{not json", 400, "not valid JSON"),
        ("prioritize", b"", 400, "body is empty"),
        ("bind", b"\xff\xfe", 400, "not valid JSON"),
        ("filter", b" " * 100_001, 413, "exceeds the limit"),
    ],
)
def test_http_malformed_bodies(server, verb, raw, status, message):
    before = _fingerprint(server)
    got, body = server.post_raw(f"/{verb}", raw)
    assert got == status
    assert message in orjson.loads(body)["Error"]
    assert _fingerprint(server) == before


def test_http_wrong_method_and_path(server):
    got, body = server.post_raw("/filter", b"", method="GET")
    assert got == 405 and b"POST" in body
    assert server.get("/nope")[0] == 404


def test_http_chunked_body_is_read(server):
    import http.client

    names = ["a", "b"]
    body = orjson.dumps({"Pod": GOOD_POD, "NodeNames": names})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/filter",
            body=iter([body[:10], body[10:]]),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        assert resp.status == 200
        assert orjson.loads(resp.read())["NodeNames"] == names
    finally:
        conn.close()
