"""Issue 10 item 8 against a live (fake) API server: /bind counts the pod the API
server holds, and refuses when the scheduler decided for another spec."""

# The fixtures come from test_watcher; a test's parameters naming them are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import pytest

from extender.engine.config import default_configuration
from extender.engine.engine import Engine
from extender.live.binder import ApiBinder
from extender.live.client import KubeApi
from extender.model.errors import BindError
from extender.wire.service import Service
from tests.fakeapi import make_pod
from tests.live.test_watcher import (  # noqa: F401 - fixtures
    FakeClock,
    assert_converged,
    make_watcher,
    server,
    state,
    synced_with_pending_pod,
    wait_until,
)

BINDING = "/api/v1/namespaces/default/pods/web/binding"
BIND_WEB = {"PodUID": "uid-web", "PodName": "web", "PodNamespace": "default", "Node": "node-a"}


def test_a_bind_for_a_spec_the_api_server_does_not_hold_is_refused(server, state, make_watcher):
    synced_with_pending_pod(server, state, make_watcher)  # web: 600m, pending
    svc = Service(state, Engine(default_configuration()), ApiBinder(state, KubeApi(server.url)))
    smaller = make_pod("web", "uid-web", cpu="1m")  # not what the API server holds
    assert svc.filter({"Pod": smaller, "NodeNames": ["node-a"]})["NodeNames"] == ["node-a"]
    before = state.truth()
    answer = svc.bind(BIND_WEB)
    assert "differs from the pending pod podsift holds from the API server" in answer["Error"]
    assert server.count("POST", BINDING) == 0
    assert state.truth() == before

    # the next cycle carries the API server's pod: it binds, and 600m is what counts
    held = server.objects["pods"]["uid-web"]
    assert svc.filter({"Pod": held, "NodeNames": ["node-a"]})["NodeNames"] == ["node-a"]
    answer = svc.bind(BIND_WEB)
    assert answer == {"Error": ""}
    assert server.count("POST", BINDING) == 1
    assert wait_until(lambda: not state.is_assumed("uid-web"))
    assert state.truth()["nodes"]["node-a"]["cpu"] == 600
    assert_converged(server, state)


def test_the_pod_from_the_watch_binds_without_any_filter_here(server, state, make_watcher):
    """Another replica ran the /filter: this one counts the pod its watch holds."""
    synced_with_pending_pod(server, state, make_watcher)
    binder = ApiBinder(state, KubeApi(server.url), clock=FakeClock())
    binder.bind("uid-web", "default", "web", "node-a")
    assert wait_until(lambda: not state.is_assumed("uid-web"))
    assert state.truth()["nodes"]["node-a"]["cpu"] == 600


def test_an_edit_seen_by_the_watch_before_the_filter_binds(server, state, make_watcher):
    synced_with_pending_pod(server, state, make_watcher)
    binder = ApiBinder(state, KubeApi(server.url), clock=FakeClock())
    svc = Service(state, Engine(default_configuration()), binder)
    svc.filter({"Pod": server.objects["pods"]["uid-web"], "NodeNames": ["node-a"]})
    server.upsert_pod(make_pod("web", "uid-web", cpu="700m"))  # edited while pending
    assert wait_until(lambda: state.pending["uid-web"].requests["cpu"] == 700)
    with pytest.raises(BindError, match="differs from the pending pod"):
        binder.bind("uid-web", "default", "web", "node-a")  # decided for 600m
    svc.filter({"Pod": server.objects["pods"]["uid-web"], "NodeNames": ["node-a"]})
    binder.bind("uid-web", "default", "web", "node-a")
    assert wait_until(lambda: not state.is_assumed("uid-web"))
    assert state.truth()["nodes"]["node-a"]["cpu"] == 700
    assert_converged(server, state)
