"""Before the cache is synced every verb errors (CONTRACT section 1), and the
metrics count what each answer really was (a refused bind is not "ok").

The WSGI app is called directly here; tests/live/test_watch_serve.py checks the
same through a real gunicorn watching the fake API server.
"""

from __future__ import annotations

import io

import orjson
import pytest

from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.wire import metrics
from extender.wire.app import ExtenderApp
from extender.wire.service import Service
from tests.helpers import make_state, node, pod
from tests.wire.test_metrics import scrape

NODES = [node("a", cpu="2"), node("b", cpu="4")]
POD = pod("new", cpu="500m")
ARGS = {"Pod": POD, "NodeNames": ["a", "b"]}
BIND = {"PodName": "new", "PodNamespace": "default", "PodUID": POD["metadata"]["uid"], "Node": "a"}
PREEMPT = {"Pod": POD, "NodeNameToMetaVictims": {"a": {"Pods": [], "NumPDBViolations": 0}}}


def call(app: ExtenderApp, path: str, obj) -> tuple[str, dict, object]:
    body = orjson.dumps(obj)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    out = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], orjson.loads(out)


def not_ready_app(reason: str = "initial list of nodes and pods pending") -> ExtenderApp:
    state = make_state(NODES)
    state.set_ready(False, reason)
    return ExtenderApp(Service(state, Engine(default_configuration())))


def outcomes() -> dict[tuple[str, str], float]:
    samples = scrape(metrics.default).get("podsift_requests_total", {})
    return {(dict(k)["verb"], dict(k)["outcome"]): v for k, v in samples.items()}


@pytest.mark.parametrize("path", ["/filter", "/bind"])
def test_filter_and_bind_answer_error_while_not_synced(path):
    app = not_ready_app("list failed: HTTP 500")
    before = app.service.state.truth()
    status, _, res = call(app, path, BIND if path == "/bind" else ARGS)
    assert status == "200 OK"
    assert "not synced" in res["Error"] and "list failed: HTTP 500" in res["Error"]
    if path == "/filter":  # an error, never "every node not found"
        assert res["FailedNodes"] == {} and res["NodeNames"] is None
    assert app.service.state.truth() == before
    assert not app.service.state.is_assumed(BIND["PodUID"])


@pytest.mark.parametrize(
    "path, args", [("/prioritize", ARGS), ("/preempt", PREEMPT), ("/explain", ARGS)]
)
def test_other_verbs_answer_503_with_retry_after_while_not_synced(path, args):
    app = not_ready_app()
    status, headers, res = call(app, path, args)
    assert status.startswith("503")
    assert headers["Retry-After"] == "1"
    assert "not synced" in res["Error"] and "initial list" in res["Error"]


def test_not_synced_pod_is_not_remembered_and_answers_resume_once_synced():
    app = not_ready_app()
    call(app, "/filter", ARGS)
    app.service.state.set_ready(True)
    # the /filter while not synced did not remember the pod: this bind has no spec
    status, _, res = call(app, "/bind", BIND)
    assert "podsift needs its spec" in res["Error"]
    status, _, res = call(app, "/filter", ARGS)
    assert status == "200 OK" and res["Error"] == "" and res["NodeNames"] == ["a", "b"]
    status, _, res = call(app, "/bind", BIND)
    assert res == {"Error": ""}


def test_not_ready_answers_are_counted_as_not_ready():
    app = not_ready_app()
    before = outcomes()
    call(app, "/filter", ARGS)
    call(app, "/prioritize", ARGS)
    after = outcomes()
    for verb in ("filter", "prioritize"):
        assert after[(verb, "not_ready")] == before.get((verb, "not_ready"), 0) + 1
        assert after.get((verb, "ok"), 0) == before.get((verb, "ok"), 0)


def test_a_refused_bind_is_not_counted_as_ok():
    app = not_ready_app()
    app.service.state.set_ready(True)
    before = outcomes()
    status, _, res = call(app, "/bind", BIND)  # never seen in /filter: refused
    assert status == "200 OK" and res["Error"]
    after = outcomes()
    assert after.get(("bind", "ok"), 0) == before.get(("bind", "ok"), 0)
    assert after[("bind", "rejected")] == before.get(("bind", "rejected"), 0) + 1
    call(app, "/filter", ARGS)
    assert call(app, "/bind", BIND)[2] == {"Error": ""}
    assert outcomes()[("bind", "ok")] == before.get(("bind", "ok"), 0) + 1


def test_a_filter_with_error_in_its_answer_is_not_counted_as_ok():
    app = not_ready_app()
    app.service.state.set_ready(True)
    before = outcomes()
    status, _, res = call(app, "/filter", {"NodeNames": ["a"]})  # no Pod
    assert status == "200 OK" and res["Error"]
    after = outcomes()
    assert after.get(("filter", "ok"), 0) == before.get(("filter", "ok"), 0)
    assert after[("filter", "bad_request")] == before.get(("filter", "bad_request"), 0) + 1
